"""SMS through an HTTP provider with Twilio's Messages API shape.

Twilio itself, or any gateway that copies its API (and the loopback `SmsSink`), answers
`POST /2010-04-01/Accounts/{sid}/Messages.json`. Each send carries the caller's idempotency
key twice, as `Idempotency-Key` (the common header) and `I-Twilio-Idempotency-Token`
(Twilio's), so a retry after a lost answer is one text at a provider that honours either.
"""

from __future__ import annotations

import json
from types import TracebackType
from urllib.parse import quote

import httpx

from orchestrator.channels.errors import (
    PermanentSendError,
    SendResult,
    TransientSendError,
    retry_after_seconds,
)

API_VERSION = "2010-04-01"
# 4xx answers that mean "not now" rather than "never": a request timeout, an idempotency key
# still in flight at the provider (a retry gets the stored answer), too early, too many.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 409, 425, 429})


class SmsSender:
    """One provider account and sending number; the HTTP client stays open between sends."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        for name, value in (
            ("base_url", base_url),
            ("account_sid", account_sid),
            ("auth_token", auth_token),
            ("from_number", from_number),
        ):
            if not value or not value.strip():
                raise ValueError(f"{name}: required for the SMS channel, got an empty value")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {base_url!r}")
        self.from_number = from_number
        self.status_callback_url = status_callback_url
        self.messages_url = (
            f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{quote(account_sid, safe='')}"
            "/Messages.json"
        )
        # Redirects are not followed: a provider that moves its API is a configuration change.
        self._client = httpx.Client(
            auth=(account_sid, auth_token), timeout=timeout, follow_redirects=False
        )

    def send(self, to: str, body: str, *, idempotency_key: str) -> SendResult:
        """Hand one text to the provider; raises TransientSendError or PermanentSendError."""
        if not idempotency_key:
            raise ValueError("idempotency_key: required, so a retry cannot send twice")
        form = {"To": to, "From": self.from_number, "Body": body}
        if self.status_callback_url:
            form["StatusCallback"] = self.status_callback_url
        headers = {
            "Idempotency-Key": idempotency_key,
            "I-Twilio-Idempotency-Token": idempotency_key,
        }
        try:
            response = self._client.post(self.messages_url, data=form, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"sms provider timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientSendError(f"sms provider unreachable ({type(exc).__name__})") from exc
        return _result_of(response)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SmsSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _result_of(response: httpx.Response) -> SendResult:
    """The receipt of a 2xx answer, else the error its status and body call for."""
    status = response.status_code
    payload = _json_object(response)
    if 200 <= status < 300:
        sid = payload.get("sid")
        if not isinstance(sid, str) or not sid:
            raise PermanentSendError(f"sms provider answered {status} without a message sid")
        return SendResult(provider_id=sid, status=str(payload.get("status") or "queued"))
    reason, code = _provider_reason(status, payload, response.reason_phrase)
    if status >= 500 or status in TRANSIENT_CLIENT_STATUSES:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise TransientSendError(reason, retry_after, code=code)
    raise PermanentSendError(reason, code=code)


def _json_object(response: httpx.Response) -> dict[str, object]:
    """The body as a JSON object, or empty: error pages from proxies are often HTML."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _provider_reason(
    status: int, payload: dict[str, object], phrase: str
) -> tuple[str, str | None]:
    """Twilio's `{"code": 21211, "message": "..."}` as "HTTP 400, code 21211: ..."."""
    code = payload.get("code")
    message = payload.get("message") or payload.get("detail") or phrase or "no reason given"
    code_text = str(code) if code is not None else None
    prefix = f"HTTP {status}, code {code_text}" if code_text else f"HTTP {status}"
    return f"{prefix}: {message}", code_text
