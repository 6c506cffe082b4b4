"""Lead intake: one lead, bulk CSV/NDJSON, and reading a lead back."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import anyio
import anyio.from_thread
import orjson
import psycopg
from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from psycopg.rows import dict_row
from pydantic import BaseModel, Field, ValidationError

from hk_core.contract import Lead, LeadCreated, LeadIn
from hk_core.intake import import_leads
from hk_core.readers import Format, detect_format
from hk_core.records import LeadRecordBuilder
from serving.deps import IngestKey, ReadKey, State
from serving.errors import ERROR_RESPONSES, ErrorBody
from serving.lead_intake import PreparedLead, created_body, prepare_lead, store_lead
from serving.state import AppState
from serving.streams import QueueReader

router = APIRouter(prefix="/v1/leads", tags=["leads"])

MAX_IDEMPOTENCY_KEY = 255
BULK_ERRORS_SHOWN = 1000


def _lock_id(api_key_id: int, key: str) -> int:
    digest = hashlib.blake2b(f"{api_key_id}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _request_hash(body: bytes) -> str:
    # Hash the parsed document, so that whitespace or key order alone is not "a different body".
    return hashlib.sha256(orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)).hexdigest()


# The body is validated by pydantic straight from bytes (model_validate_json), after the API key
# is checked: cheaper than FastAPI's parse-then-validate, and an unauthenticated caller learns
# nothing about the contract. The schema is still documented for clients and schemathesis.
_LEAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": LeadIn.model_json_schema()}},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=LeadCreated,
    summary="Submit one lead",
    openapi_extra=_LEAD_BODY,
    responses={
        200: {"model": LeadCreated, "description": "The same lead was already stored"},
        409: {
            "model": ErrorBody,
            "description": "A request with this Idempotency-Key is in progress",
        },
        **ERROR_RESPONSES,
    },
)
async def create_lead(
    request: Request,
    state: State,
    key_id: IngestKey,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=MAX_IDEMPOTENCY_KEY, description="Replays return the first response"),
    ] = None,
) -> Any:
    body = await request.body()
    try:
        lead = LeadIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
    prepared = prepare(state, key_id, body, lead)
    try:
        stored = await store(state, key_id, idempotency_key, body, prepared)
    except psycopg.errors.ForeignKeyViolation:
        # The caller's key was deleted while this process still trusted its cached digest
        # (app.leads.api_key_id is the table's only foreign key).
        state.key_cache.clear()
        raise HTTPException(401, KEY_GONE_DETAIL) from None
    if isinstance(stored, Response):
        return stored
    status, lead_id, payload = stored
    return Response(
        content=payload,
        status_code=status,
        media_type="application/json",
        headers={"Location": location(lead_id)},
    )


KEY_GONE_DETAIL = "missing or invalid X-API-Key"


def location(lead_id: int) -> str:
    return f"/v1/leads/{lead_id}"


def prepare(state: AppState, key_id: int, body: bytes, lead: LeadIn) -> PreparedLead:
    """The lead's row and warnings (``body`` is read again only for a lead that may warn)."""
    builder = LeadRecordBuilder(state.hasher, channel="api", api_key_id=key_id)
    return prepare_lead(builder, lead, lambda: orjson.loads(body))


async def store(
    state: AppState,
    key_id: int,
    idempotency_key: str | None,
    body: bytes,
    lead: PreparedLead,
) -> tuple[int, int, bytes] | Response:
    """Store the lead (with its Idempotency-Key record): its answer, or the replayed one."""
    async with state.pool.connection() as conn:
        if idempotency_key is None:
            # One autocommitted statement: the common case costs a single round trip.
            return await _store_lead(conn, lead)
        async with conn.transaction():
            request_hash = _request_hash(body)
            earlier = await _claim_idempotency_key(conn, key_id, idempotency_key)
            if earlier is not None:
                if earlier[0] != request_hash:
                    raise HTTPException(
                        422, "Idempotency-Key was already used with a different request body"
                    )
                return Response(bytes(earlier[2]), earlier[1], media_type="application/json")
            status, lead_id, payload = await _store_lead(conn, lead)
            await conn.execute(
                "insert into app.idempotency_keys "
                "(api_key_id, idempotency_key, request_hash, status_code, response_body) "
                "values (%s, %s, %s, %s, %s)",
                (key_id, idempotency_key, request_hash, status, payload),
            )
            return status, lead_id, payload


async def _claim_idempotency_key(conn: psycopg.AsyncConnection, key_id: int, key: str):
    """Inside the caller's transaction: 409 while another request holds the key, else the
    stored (request_hash, status, body) of an earlier request, or None for a new key."""
    cur = await conn.execute("select pg_try_advisory_xact_lock(%s)", (_lock_id(key_id, key),))
    locked = await cur.fetchone()
    if not locked or not locked[0]:
        raise HTTPException(409, "a request with this Idempotency-Key is in progress")
    cur = await conn.execute(
        "select request_hash, status_code, response_body from app.idempotency_keys "
        "where api_key_id = %s and idempotency_key = %s",
        (key_id, key),
    )
    return await cur.fetchone()


async def _store_lead(conn: psycopg.AsyncConnection, lead: PreparedLead) -> tuple[int, int, bytes]:
    stored = await store_lead(conn, lead)
    return stored.status, stored.lead_id, created_body(stored, lead.warnings)


class BulkRowError(BaseModel):
    row: int
    line: int | None
    field: str
    reason: str


class BulkReason(BaseModel):
    field: str
    reason: str


class BulkRejectedRow(BaseModel):
    """A refused row as it was sent, to be fixed and sent again."""

    row: int
    line: int | None
    record: dict[str, Any] | None = Field(
        description="The row as sent, by the sender's column names (CSV) or keys (NDJSON); "
        "null when the line could not be read as a row"
    )
    original_line: str | None = Field(description="The line's text when it was no JSON object")
    reasons: list[BulkReason]


class BulkResult(BaseModel):
    rows: int
    accepted: int
    rejected: int
    stored: int
    duplicates: int
    errors: list[BulkRowError]
    errors_truncated: bool
    rejects: list[BulkRejectedRow] = Field(
        description="Every refused row (up to the same limit as errors) with all its reasons"
    )


_BULK_BODY = {
    "requestBody": {
        "required": True,
        "description": "Leads as CSV (header row of contract columns) or NDJSON (one object a line)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/bulk",
    response_model=BulkResult,
    summary="Import many leads from CSV or NDJSON",
    openapi_extra=_BULK_BODY,
    responses={415: {"model": ErrorBody, "description": "Not CSV or NDJSON"}, **ERROR_RESPONSES},
)
async def bulk_import(
    request: Request,
    state: State,
    key_id: IngestKey,
    format: Annotated[Format | None, Query(description="Overrides Content-Type")] = None,
) -> Any:
    fmt = format or detect_format(None, request.headers.get("content-type"))
    if fmt is None:
        raise HTTPException(415, "send text/csv or application/x-ndjson (or ?format=csv|ndjson)")
    send_chunk, receive_chunk = anyio.create_memory_object_stream[bytes | None](max_buffer_size=16)
    reader = QueueReader(lambda: anyio.from_thread.run(receive_chunk.receive))

    # libpq counts whole seconds, at least 2.
    connect_timeout = max(2, round(state.settings.db_pool_timeout_seconds))

    def run_import():
        with psycopg.connect(state.database_url, connect_timeout=connect_timeout) as conn:
            conn.autocommit = True
            try:
                return import_leads(
                    conn, reader, fmt, state.hasher, channel="bulk", api_key_id=key_id
                )
            finally:
                reader.drain()

    result = None
    try:
        async with anyio.create_task_group() as tg:

            async def feed():
                async with send_chunk:
                    async for chunk in request.stream():
                        if chunk:
                            await send_chunk.send(chunk)
                    await send_chunk.send(None)

            tg.start_soon(feed)
            result = await anyio.to_thread.run_sync(run_import)
    except* psycopg.OperationalError as lost:
        # Out of the task group's wrapping, so the app's handler makes it the 503 it is.
        raise lost.exceptions[0] from None
    assert result is not None
    return result.as_dict(max_errors=BULK_ERRORS_SHOWN)


@router.get(
    "/{lead_id}",
    response_model=Lead,
    summary="Read one lead",
    responses={404: {"model": ErrorBody, "description": "No such lead"}, **ERROR_RESPONSES},
)
async def get_lead(
    lead_id: Annotated[int, Path(ge=1, le=2**63 - 1)], state: State, key_id: ReadKey
) -> Any:
    async with state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("select * from app.leads where lead_id = %s", (lead_id,))
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no lead with lead_id {lead_id}")
    return row
