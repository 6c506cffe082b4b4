"""What a channel answers: a provider's receipt, or an error that says whether to try again.

The worker decides retries from the class alone: a `TransientSendError` is retried with
backoff (after `retry_after` seconds when the provider named a time), a `PermanentSendError`
fails the message at once with the provider's own reason. Reasons are stored on the message
and may reach log lines, so emails and phone numbers in a provider's text are redacted here,
at the one place every reason is made.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from hk_core.logging import redact_text

_SECONDS = re.compile(r"\d+(\.\d+)?")


class SendError(Exception):
    """A send that did not reach the provider's acceptance; `reason` is safe to store and log."""

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        self.reason = redact_text(reason)
        # The provider's error code when it gave one (Twilio 21610: the recipient replied STOP),
        # so the core can act on a code without parsing the reason's text.
        self.code = code
        super().__init__(self.reason)


class TransientSendError(SendError):
    """Worth another attempt: 5xx, timeouts, refused connections, 429, SMTP 4xx."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(reason, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Another attempt would get the same answer: a bad number, a refused recipient, bad auth."""


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message: its id (Twilio's SM… sid, the email's Message-ID)."""

    provider_id: str
    status: str


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now (RFC 9110: delay-seconds or an HTTP date), None when
    absent or unreadable, never negative: a date in the past means "now"."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):  # RFC 9110 says digits; a decimal from a gateway is as clear
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; RFC 9110 dates are GMT whatever they say
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
