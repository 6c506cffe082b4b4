"""Deals over HTTP: list, read (also by lead), patch with If-Match (docs/deals.md).

The patch body is read as bytes and parsed by ``orchestrator.deals.parse_body`` rather than by
FastAPI, whose JSON parsing turns ``12.30`` into a float before any model sees it: money is
kept as the digits that were sent. The body's schema is still published (``DealPatch``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from orchestrator import deals
from orchestrator.funnel import STAGES
from serving.deps import OperateKey, State, key_name
from serving.errors import ERROR_RESPONSES, ErrorBody
from serving.state import AppState

router = APIRouter(tags=["deals"])

BIGINT = 2**63 - 1
DealId = Annotated[int, Path(ge=1, le=BIGINT)]
LeadId = Annotated[int, Path(ge=1, le=BIGINT)]
MONEY_PATTERN = r"^[0-9]{1,12}\.[0-9]{2}$"
MONEY_OUT = (
    'Money as a JSON string with exactly two decimals ("123456.00"), exact: never a float; '
    "null when not known"
)
MONEY_IN = (
    'A decimal string ("1234.50") or a JSON number (1234.5), taken exactly as written: at most '
    "2 decimal places, not negative, at most 999999999999.99; no exponent; null clears it"
)


class DealOut(BaseModel):
    deal_id: int
    lead_id: int
    status: str = Field(
        description=f"The lead's stage, kept by the database (not patchable): {', '.join(STAGES)}"
    )
    lead_stage: str = Field(description="The lead's current stage, read with the deal")
    offer_amount: str | None = Field(pattern=MONEY_PATTERN, description=MONEY_OUT)
    contract_price: str | None = Field(pattern=MONEY_PATTERN, description=MONEY_OUT)
    assignment_fee: str | None = Field(pattern=MONEY_PATTERN, description=MONEY_OUT)
    contract_date: date | None
    closing_date: date | None = Field(description="On or after contract_date")
    notes: str | None
    offer_made_at: datetime | None = Field(description="When the lead first reached offer_made")
    status_changed_at: datetime
    created_at: datetime
    updated_at: datetime = Field(description="The ETag is made from it")
    updated_by: str | None


class DealPage(BaseModel):
    deals: list[DealOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


_MONEY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$"},
        {"type": "number", "minimum": 0, "maximum": 999999999999.99, "multipleOf": 0.01},
        {"type": "null"},
    ],
    "description": MONEY_IN,
}
_DATE_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
    "description": "YYYY-MM-DD, or null",
}
PATCH_SCHEMA: dict[str, Any] = {
    "title": "DealPatch",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "The fields to change; status is not patchable (it follows the lead's stage)",
    "properties": {
        "offer_amount": _MONEY_SCHEMA,
        "contract_price": _MONEY_SCHEMA,
        "assignment_fee": _MONEY_SCHEMA,
        "contract_date": _DATE_SCHEMA,
        "closing_date": {**_DATE_SCHEMA, "description": "YYYY-MM-DD on or after contract_date"},
        "notes": {
            "anyOf": [{"type": "string", "maxLength": deals.MAX_NOTES_CHARS}, {"type": "null"}]
        },
    },
}


class PreconditionFailed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: str
    etag: str = Field(description="The deal's ETag now")


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such deal"}
}


def _error(exc: deals.DealError, location: str = "body") -> JSONResponse:
    if exc.status == 422:
        loc = [location] if exc.field is None or exc.field == "body" else [location, exc.field]
        item = {"loc": loc, "msg": str(exc), "type": "value_error"}
        return JSONResponse({"detail": [item]}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def _deal_response(deal: dict[str, Any], response: Response) -> dict[str, Any]:
    response.headers["ETag"] = deals.etag(deal)
    return deals.to_json(deal)


@router.get(
    "/v1/deals",
    response_model=DealPage,
    summary="Deals, newest first, optionally by status",
    responses=ERROR_RESPONSES,
)
async def list_deals(
    state: State,
    key_id: OperateKey,
    status: Annotated[
        str | None, Query(max_length=32, description=f"One of {', '.join(STAGES)}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    before = None
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or not 1 <= int(cursor) <= BIGINT:
            error = deals.DealError(422, "cursor: not a cursor this route returned", field="cursor")
            return _error(error, "query")
        before = int(cursor)
    async with state.pool.connection() as conn:
        try:
            page = await deals.find(conn, status=status, before=before, limit=limit)
        except deals.DealError as exc:
            return _error(exc, "query")
    return {"deals": [deals.to_json(d) for d in page.deals], "next_cursor": page.next_cursor}


@router.get(
    "/v1/deals/{deal_id}",
    response_model=DealOut,
    summary="A deal, with its lead's current stage; the ETag header is for If-Match",
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
async def get_deal(deal_id: DealId, state: State, key_id: OperateKey, response: Response) -> Any:
    async with state.pool.connection() as conn:
        deal = await deals.get(conn, deal_id)
    if deal is None:
        return JSONResponse({"detail": f"no deal {deal_id}"}, status_code=404)
    return _deal_response(deal, response)


@router.get(
    "/v1/leads/{lead_id}/deal",
    response_model=DealOut,
    summary="A lead's deal (a lead has one once it reached offer_made)",
    responses={
        404: {"model": ErrorBody, "description": "No such lead, or it has not reached offer_made"},
        **ERROR_RESPONSES,
    },
)
async def get_lead_deal(
    lead_id: LeadId, state: State, key_id: OperateKey, response: Response
) -> Any:
    async with state.pool.connection() as conn:
        deal = await deals.for_lead(conn, lead_id)
        if deal is None:
            cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
            exists = await cur.fetchone() is not None
    if deal is None:
        detail = (
            f"lead {lead_id} has no deal: it has not reached offer_made"
            if exists
            else f"lead {lead_id} not found"
        )
        return JSONResponse({"detail": detail}, status_code=404)
    return _deal_response(deal, response)


async def _actor(state: AppState, key_id: int) -> str:
    async with state.pool.connection() as conn:
        return f"api-key:{await key_name(state, conn, key_id)}"


@router.patch(
    "/v1/deals/{deal_id}",
    response_model=DealOut,
    summary="Change a deal's figures, dates or notes (audited); status follows the stage",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PATCH_SCHEMA}},
        }
    },
    responses={
        **NOT_FOUND,
        412: {"model": PreconditionFailed, "description": "If-Match names an older ETag"},
        **ERROR_RESPONSES,
    },
)
async def patch_deal(
    deal_id: DealId,
    request: Request,
    state: State,
    key_id: OperateKey,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            max_length=512,
            description="The ETag of the deal as last read: refused with 412 if it changed since",
        ),
    ] = None,
) -> Any:
    try:
        changes = deals.parse_patch(deals.parse_body(await request.body()))
    except deals.DealError as exc:
        return _error(exc)
    actor = await _actor(state, key_id)
    auditor = state.orchestrator.auditor if state.orchestrator else None
    assert auditor is not None, "the lifespan builds the orchestrator"
    async with state.pool.connection() as conn:
        try:
            deal = await deals.update(
                conn, auditor, deal_id, changes, actor=actor, if_match=if_match
            )
        except deals.DealError as exc:
            if exc.status == 412:
                now = await deals.get(conn, deal_id)
                tag = deals.etag(now) if now else ""
                return JSONResponse({"detail": str(exc), "etag": tag}, status_code=412)
            return _error(exc)
    return _deal_response(deal, response)
