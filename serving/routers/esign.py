"""The e-signature provider's webhook: a signed contract lands on its deal (orchestrator/esign.py).

DocuSeal authenticates its webhooks with a secret header the account owner chooses (name and
value); the value is compared in constant time before the body is parsed. A delivery that
cannot be verified is 401 and leaves nothing behind; a replay answers 200 with the first
outcome and ``X-HK-Webhook-Replay: true``.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orchestrator import esign
from serving.deps import State
from serving.errors import ErrorBody
from serving.routers.documents import store_of
from serving.webhook_metrics import count_event, count_refusal

router = APIRouter(tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A replay (X-HK-Webhook-Replay: true) or an event not acted on"},
    401: {"model": ErrorBody, "description": "Missing or wrong secret header"},
    404: {"model": ErrorBody, "description": "The e-signature webhook is off (no secret set)"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ErrorBody, "description": "The payload cannot be used; the message names why"},
    502: {"model": ErrorBody, "description": "The signed document could not be fetched"},
    503: {"model": ErrorBody, "description": "Not configured to fetch documents, or no database"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _answer(outcome: esign.Outcome) -> JSONResponse:
    headers = {"X-HK-Webhook-Replay": "true"} if outcome.replay else {}
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


@router.post(
    "/v1/webhooks/esign/docuseal",
    status_code=201,
    summary="DocuSeal form.completed: store the signed PDF on its deal, move to under_contract",
    openapi_extra=_BODY,
    responses=_RESPONSES,
)
async def docuseal_webhook(request: Request, state: State) -> Any:
    settings = state.settings
    secret = settings.esign_webhook_secret
    if secret is None:
        count_refusal(esign.PROVIDER, "unknown_provider")
        return JSONResponse(
            {"detail": "the e-signature webhook is off: HK_ESIGN_WEBHOOK_SECRET is not set"}, 404
        )
    sent = request.headers.get(settings.esign_webhook_secret_header)
    if not esign.secret_matches(sent, secret.get_secret_value()):
        count_refusal(esign.PROVIDER, "missing" if sent is None else "mismatch")
        return JSONResponse(
            {"detail": f"missing or wrong {settings.esign_webhook_secret_header} header"}, 401
        )
    body = await request.body()
    try:
        completion = esign.parse_completed(body)
        async with state.pool.connection() as conn:
            earlier = await esign.seen(conn, completion.event_id)
            if earlier is None and completion.event_type == esign.COMPLETED:
                await esign.check_deal(conn, completion.deal_id)
        if earlier is not None:
            count_event(esign.PROVIDER, "replayed")
            return _answer(earlier)
        if completion.event_type != esign.COMPLETED:
            async with state.pool.connection() as conn, conn.transaction():
                outcome = await esign.record_ignored(conn, completion)
            count_event(esign.PROVIDER, "replayed" if outcome.replay else "ignored")
            return _answer(outcome)
        stored = await anyio.to_thread.run_sync(
            esign.fetch_documents, completion, settings, store_of(state)
        )
        assert state.orchestrator is not None
        async with state.pool.connection() as conn:
            outcome = await esign.record_completion(
                conn, state.orchestrator.auditor, completion, stored
            )
    except esign.EsignError as exc:
        if exc.status == 422:
            count_refusal(esign.PROVIDER, "invalid_payload")
        count_event(esign.PROVIDER, f"error_{exc.status}")
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    count_event(esign.PROVIDER, "replayed" if outcome.replay else outcome.body["outcome"])
    return _answer(outcome)
