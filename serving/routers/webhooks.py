"""What the SMS provider and email recipients send back: inbound texts, delivery status, unsubscribes.

The SMS webhooks are authenticated by the provider's signature (``X-Twilio-Signature`` over the
public URL and the form), not by an API key; the body is only acted on once that checks out.
The unsubscribe link carries an HMAC of its message id, so it cannot be forged for another lead.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from orchestrator.channels import verify_twilio_signature
from orchestrator.outbox import read_unsubscribe_token
from orchestrator.replies import record_inbound, record_status, unsubscribe_message
from serving.deps import State
from serving.errors import ErrorBody

router = APIRouter(tags=["webhooks"])
_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_FORM = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    }
}
_SIGNED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or invalid X-Twilio-Signature"},
    422: {"model": ErrorBody, "description": "A required form field is missing"},
    404: {"model": ErrorBody, "description": "SMS is not configured (no auth token)"},
}


async def _signed_form(request: Request, state: State, signature: str | None) -> dict[str, str]:
    token = state.settings.sms_auth_token
    if token is None:
        # Off, rather than unavailable: nothing can be verified without the provider's token.
        raise HTTPException(404, "SMS webhooks are off: HK_SMS_AUTH_TOKEN is not set")
    body = await request.body()
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        form = None
    url = state.settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if form is None or not verify_twilio_signature(url, form, token.get_secret_value(), signature):
        raise HTTPException(401, "missing or invalid X-Twilio-Signature")
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise HTTPException(422, f"form field {name} is required")
    return value


@router.post(
    "/v1/webhooks/sms/inbound",
    summary="An inbound text (Twilio's webhook shape)",
    response_class=Response,
    openapi_extra=_FORM,
    responses={200: {"content": {"application/xml": {}}}, **_SIGNED},
)
async def sms_inbound(
    request: Request,
    state: State,
    signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Any:
    form = await _signed_form(request, state, signature)
    provider_id = _required(form, "MessageSid")
    sender = _required(form, "From")
    async with state.pool.connection() as conn:
        try:
            await record_inbound(
                conn,
                state.hasher,
                provider_id=provider_id,
                from_phone=sender,
                body=form.get("Body", ""),
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    return Response(_TWIML_EMPTY, media_type="application/xml")


@router.post(
    "/v1/webhooks/sms/status",
    summary="A delivery status callback (Twilio's StatusCallback shape)",
    status_code=204,
    response_class=Response,
    openapi_extra=_FORM,
    responses={
        404: {"model": ErrorBody, "description": "No message has this MessageSid"},
        **_SIGNED,
    },
)
async def sms_status(
    request: Request,
    state: State,
    signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Response:
    form = await _signed_form(request, state, signature)
    provider_id = _required(form, "MessageSid")
    status = _required(form, "MessageStatus")
    async with state.pool.connection() as conn:
        await record_status(conn, provider_id, status)
    return Response(status_code=204)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


@router.get(
    "/v1/unsubscribe/{token}",
    summary="The unsubscribe page an email links to",
    response_class=HTMLResponse,
    responses={404: {"description": "Not a link we sent"}},
)
async def unsubscribe_page(
    token: Annotated[str, Path(max_length=80)], state: State
) -> HTMLResponse:
    # A GET never unsubscribes: mail scanners follow links. The button posts (RFC 8058 §3.1).
    if read_unsubscribe_token(_key(state), token) is None:
        return HTMLResponse(
            _PAGE.format(title="Link not recognised", text="", form=""), status_code=404
        )
    form = f'<form method="post" action="/v1/unsubscribe/{token}"><button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>'
    return HTMLResponse(
        _PAGE.format(
            title="Unsubscribe", text="Stop all email from Hidden Key Investments?", form=form
        )
    )


@router.post(
    "/v1/unsubscribe/{token}",
    summary="One-click unsubscribe (RFC 8058): stops every email to this address",
    response_class=HTMLResponse,
    responses={404: {"description": "Not a link we sent"}},
)
async def unsubscribe(token: Annotated[str, Path(max_length=80)], state: State) -> HTMLResponse:
    message_id = read_unsubscribe_token(_key(state), token)
    if message_id is None:
        return HTMLResponse(
            _PAGE.format(title="Link not recognised", text="", form=""), status_code=404
        )
    async with state.pool.connection() as conn:
        await unsubscribe_message(conn, message_id)
    return HTMLResponse(
        _PAGE.format(title="Unsubscribed", text="You will receive no more email from us.", form="")
    )


def _key(state: State) -> bytes:
    return state.settings.pii_key.get_secret_value().encode()
