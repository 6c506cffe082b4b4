"""Error bodies that name the field: FastAPI's shape, without echoing exception objects."""

from __future__ import annotations

import orjson
import psycopg
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


# Seconds a client is asked to wait when the database is unreachable: the pool reconnects
# in the background, and a restarted Postgres takes a few seconds to accept connections.
DATABASE_RETRY_AFTER = 5


def database_unavailable_body(error: BaseException) -> bytes:
    # The error's class, not its text: libpq messages can carry host names and addresses.
    return orjson.dumps(
        {"detail": f"the database is unavailable ({type(error).__name__}); retry later"}
    )


async def database_error_handler(request: Request, exc: psycopg.OperationalError) -> Response:
    """A lost or unreachable database (and a pool that waited in vain) is a 503, not a 500.

    That includes a connection lost during COMMIT, whose outcome the API cannot know: the
    lead may be stored. 503 is still the honest answer because the retry it asks for is
    safe: with an Idempotency-Key the retry replays the stored answer if the commit went
    through and does the work if it did not; without one the lead's dedup key makes the
    retry a 200 naming the stored lead; a resent bulk file counts stored rows as duplicates.
    What the API never does is answer 2xx for a row it has not seen committed.
    """
    return Response(
        database_unavailable_body(exc),
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "The body could not be read (not UTF-8 JSON)"},
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key"},
    403: {"model": ErrorBody, "description": "The API key lacks the scope this route needs"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ValidationErrorBody, "description": "Invalid input; `loc` names the field"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": ErrorBody, "description": "The database is unavailable; see Retry-After"},
}
