"""Leads pushed by vendors: ``POST /v1/webhooks/leads/{provider}``, signed, replay-safe.

No API key: the provider signs each delivery (``X-HK-Signature``, hk_core/webhook_signature.py)
and nothing in the body is read, not even as JSON, until the signature checks out. The
vendor's event id is recorded in app.webhook_events in the same transaction as the lead, so a
delivery sent any number of times, concurrently too, makes one event row and one lead; a
replay answers 200 with ``X-HK-Webhook-Replay: true`` and the first delivery's outcome. A
payload that maps to no valid lead is recorded as ``rejected`` and its replays get the same
422 without being validated again: the event id names one delivery, and the vendor sends a
corrected lead as a new event (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from hk_core.contract import LeadCreated
from hk_core.intake.webhooks import (
    MAX_EVENT_ID,
    LeadWebhookProvider,
    LeadWebhooks,
    PayloadError,
    load_lead_webhooks,
)
from hk_core.logging import get_logger
from hk_core.records import LeadRecordBuilder
from hk_core.settings import Settings
from hk_core.webhook_signature import HEADER, SignatureError, verify
from serving.deps import State
from serving.errors import ErrorBody
from serving.lead_intake import prepare_lead, store_lead
from serving.state import AppState
from serving.webhook_metrics import WEBHOOK_EVENTS, WEBHOOK_REFUSALS

log = get_logger(__name__)

CHANNEL = "webhook"
REPLAY_HEADER = "X-HK-Webhook-Replay"
# A provider name from the URL that is not in the file is not a label: it would let anyone
# mint metric series.
UNKNOWN_PROVIDER = "(unknown)"

_CLAIM_EVENT = (
    "insert into app.webhook_events (provider, event_id, event_type, outcome, detail) "
    "values (%s, %s, %s, %s, %s) on conflict (provider, event_id) do nothing "
    "returning webhook_event_id"
)
_FIRST_OUTCOME = (
    "select outcome, detail from app.webhook_events where provider = %s and event_id = %s"
)


class WebhookLeadAccepted(LeadCreated):
    event_id: str = Field(description="The provider's event id, as read from the payload.")


class WebhookProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    # Absent when the request itself is malformed (FastAPI's own 422: a provider name too long).
    field: str | None = Field(None, description="The lead contract field (hk_core/contract.py)")
    path: str | None = Field(None, description="Where the provider's payload has it")


class WebhookRejection(BaseModel):
    detail: list[WebhookProblem]


_BODY = {
    "requestBody": {
        "required": True,
        "description": "The provider's own JSON payload, mapped by HK_LEAD_WEBHOOKS_FILE",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": WebhookLeadAccepted,
        "description": f"The lead was already stored, or a replay ({REPLAY_HEADER}: true)",
    },
    401: {"model": ErrorBody, "description": f"Missing, malformed, stale or wrong {HEADER}"},
    404: {"model": ErrorBody, "description": "No such webhook (or it has no secret set)"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": WebhookRejection, "description": "No valid lead; each item names the path"},
    503: {"model": ErrorBody, "description": "The database is unavailable; see Retry-After"},
}


def router_for(settings: Settings) -> APIRouter:
    """The lead webhooks router, with the providers file read and validated now (start-up):
    a broken file stops the API from starting (WebhookConfigError names every problem)."""
    hooks = load_lead_webhooks(settings.lead_webhooks_file)
    router = APIRouter(tags=["webhooks"])

    @router.post(
        "/v1/webhooks/leads/{provider}",
        status_code=201,
        response_model=WebhookLeadAccepted,
        summary="A lead pushed by a vendor, signed with X-HK-Signature",
        openapi_extra=_BODY,
        responses=_RESPONSES,
    )
    async def receive_lead(
        request: Request,
        state: State,
        provider: Annotated[str, Path(max_length=40)],
        signature: Annotated[
            str | None,
            Header(alias=HEADER, description="t=<unix seconds>,v1=<HMAC-SHA256 hex>"),
        ] = None,
    ) -> Any:
        return await _receive(request, state, hooks, provider, signature)

    return router


def _refuse(provider: str, reason: str, status: int, detail: Any) -> HTTPException:
    WEBHOOK_REFUSALS.labels(provider, reason).inc()
    return HTTPException(status, detail)


async def _receive(
    request: Request,
    state: AppState,
    hooks: LeadWebhooks,
    name: str,
    signature: str | None,
) -> Response:
    hook = hooks.configured(name)
    if hook is None:
        label = name if name in hooks.providers else UNKNOWN_PROVIDER
        raise _refuse(label, "unknown_provider", 404, f"no such webhook: {name!r}")
    # BodyLimitMiddleware has already refused a body over HK_MAX_BODY_BYTES.
    body = await request.body()
    try:
        verify(
            signature,
            body,
            hook.secrets,
            now=time.time(),
            tolerance_seconds=state.settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        raise _refuse(hook.name, exc.reason, 401, str(exc)) from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid(hook, [_problem("_record", "(body)", "the body is not JSON")]) from None
    event_id = hook.event_id_of(payload)
    if event_id is None:
        reason = (
            f"required: the provider's event id (a string or a number, at most "
            f"{MAX_EVENT_ID} characters)"
        )
        raise _invalid(hook, [_problem("_event_id", hook.event_id.text, reason)])
    event_type = hook.event_type_of(payload)
    body_sha256 = hashlib.sha256(body).hexdigest()
    try:
        mapped = hook.map_lead(payload)
    except PayloadError as exc:
        problems = [_problem(p.field, p.path, p.reason) for p in exc.problems]
        return await _reject(state, hook, event_id, event_type, problems, body_sha256)
    builder = LeadRecordBuilder(state.hasher, channel=CHANNEL, api_key_id=None)
    prepared = prepare_lead(builder, mapped.lead, lambda: mapped.raw)
    async with state.pool.connection() as conn, conn.transaction():
        # First the event: a concurrent delivery of the same event waits here for this
        # transaction, then finds the row and replays its outcome.
        cur = await conn.execute(_CLAIM_EVENT, (hook.name, event_id, event_type, "received", "{}"))
        claimed = await cur.fetchone()
        if claimed is None:
            return await _replay(conn, hook, event_id, body_sha256)
        stored = await store_lead(conn, prepared)
        outcome = "created" if stored.created else "duplicate"
        detail = {
            "status": stored.status,
            "lead_id": stored.lead_id,
            "warnings": prepared.warnings,
            "body_sha256": body_sha256,
        }
        await conn.execute(
            "update app.webhook_events set outcome = %s, detail = %s where webhook_event_id = %s",
            (outcome, orjson.dumps(detail).decode(), claimed[0]),
        )
    WEBHOOK_EVENTS.labels(hook.name, outcome).inc()
    return _accepted(stored.status, stored.lead_id, stored.created, prepared.warnings, event_id)


async def _reject(
    state: AppState,
    hook: LeadWebhookProvider,
    event_id: str,
    event_type: str | None,
    problems: list[dict[str, Any]],
    body_sha256: str,
) -> Response:
    """Record the event as rejected (so its replays get the same answer) and answer 422."""
    detail = {"status": 422, "errors": problems, "body_sha256": body_sha256}
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            _CLAIM_EVENT,
            (hook.name, event_id, event_type, "rejected", orjson.dumps(detail).decode()),
        )
        if await cur.fetchone() is None:
            return await _replay(conn, hook, event_id, body_sha256)
    WEBHOOK_EVENTS.labels(hook.name, "rejected").inc()
    WEBHOOK_REFUSALS.labels(hook.name, "invalid_payload").inc()
    return Response(orjson.dumps({"detail": problems}), 422, media_type="application/json")


def _problem(field: str, path: str, reason: str) -> dict[str, Any]:
    return {
        "loc": ["body", path],
        "msg": reason,
        "type": "value_error",
        "field": field,
        "path": path,
    }


def _invalid(hook: LeadWebhookProvider, problems: list[dict[str, Any]]) -> HTTPException:
    return _refuse(hook.name, "invalid_payload", 422, problems)


def _accepted(
    status: int,
    lead_id: int,
    created: bool,
    warnings: list[str],
    event_id: str,
    headers: dict[str, str] | None = None,
) -> Response:
    body = WebhookLeadAccepted(
        lead_id=lead_id, created=created, warnings=warnings, event_id=event_id
    )
    return Response(
        body.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers={"Location": f"/v1/leads/{lead_id}", **(headers or {})},
    )


async def _replay(
    conn: psycopg.AsyncConnection, hook: LeadWebhookProvider, event_id: str, body_sha256: str
) -> Response:
    """The first delivery's answer, for an event already received (and committed)."""
    cur = await conn.execute(_FIRST_OUTCOME, (hook.name, event_id))
    row = await cur.fetchone()
    assert row is not None  # the conflicting row is committed: on conflict waited for it
    outcome, detail = row
    if detail.get("body_sha256") != body_sha256:
        # Still the first answer (the event id is the vendor's promise), but worth a look.
        log.warning(
            "webhook event replayed with a different body", provider=hook.name,
            event_id=event_id, first_outcome=outcome,
        )  # fmt: skip
    WEBHOOK_EVENTS.labels(hook.name, "replayed").inc()
    replay = {REPLAY_HEADER: "true"}
    if outcome == "rejected":
        WEBHOOK_REFUSALS.labels(hook.name, "invalid_payload").inc()
        return Response(
            orjson.dumps({"detail": detail.get("errors", [])}),
            status_code=422,
            media_type="application/json",
            headers=replay,
        )
    created = detail.get("status") == 201
    return _accepted(200, detail["lead_id"], created, detail.get("warnings", []), event_id, replay)
