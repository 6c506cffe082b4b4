"""Error bodies that name the field: FastAPI's shape, without echoing exception objects."""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ErrorItem]


class ErrorBody(BaseModel):
    detail: str


def _item(error: dict) -> dict:
    loc = list(error.get("loc", ()))
    cause = (error.get("ctx") or {}).get("error")
    field = getattr(cause, "field", None)
    if field and (not loc or loc[-1] == "body"):
        loc.append(field)
    msg = str(cause) if isinstance(cause, ValueError) else str(error.get("msg", "invalid"))
    return {"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))}


async def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    body = orjson.dumps({"detail": [_item(e) for e in exc.errors()]})
    return Response(body, status_code=422, media_type="application/json")


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "The body could not be read (not UTF-8 JSON)"},
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ValidationErrorBody, "description": "Invalid input; `loc` names the field"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After"},
}
