"""A real HTTP server on loopback that answers like Twilio's Messages API, and remembers.

It checks basic auth and the form as Twilio does (same error codes and JSON shape), keeps
each message once per idempotency key, can fail on purpose (a share of calls, or the next n),
and posts signed delivery callbacks. Failures are injected before the message is accepted,
unless `fail_after_accept`: then the message is kept and the answer is lost, the case only
an idempotency key saves from a second text.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import random
import re
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

import phonenumbers

from orchestrator.sinks.callbacks import StatusCallbacks
from orchestrator.sinks.http import Answer, SinkHTTPServer, error_answer

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
SENDER_ID = re.compile(r"^(\+\d{8,15}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$")
MAX_BODY = 1600
SHUTDOWN_POLL_SECONDS = 0.1  # how soon stop() is noticed; socketserver's default is 0.5


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | str | None


class SmsSink:
    """Twilio's Messages API on 127.0.0.1 for one account; see the module docstring."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        fail_rate: float = 0.0,
        seed: int = 0,
        fail_after_accept: bool = False,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate: a share between 0 and 1, got {fail_rate}")
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.fail_rate = fail_rate
        self.fail_after_accept = fail_after_accept
        # Numbers that texted STOP to the provider itself (Twilio keeps such a list per sender).
        self.opted_out: set[str] = set()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._messages: list[dict[str, str]] = []
        self._answers: dict[str, Answer] = {}
        self._failures: list[_Failure] = []
        self._calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._callbacks: StatusCallbacks | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SmsSink: start() it first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def messages(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def count(self) -> int:
        """How many messages it keeps, without copying them (a poller's cheap question)."""
        with self._lock:
            return len(self._messages)

    @property
    def calls(self) -> int:
        """Every HTTP request answered, failures and replays included."""
        with self._lock:
            return self._calls

    def fail_next(self, n: int, status: int = 500, retry_after: float | str | None = None) -> None:
        """Answer the next `n` message requests with `status` (and Retry-After when given)."""
        if not 400 <= status < 600:
            raise ValueError(f"status: a failure is 4xx or 5xx, got {status}")
        with self._lock:
            self._failures.extend([_Failure(status, retry_after)] * n)

    def start(self) -> SmsSink:
        self._callbacks = StatusCallbacks(self.auth_token).start()
        self._server = SinkHTTPServer(("127.0.0.1", 0), self._answer)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="hk-sms-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._callbacks is not None:
            self._callbacks.stop()
            self._callbacks = None

    def __enter__(self) -> SmsSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], form: Mapping[str, str]
    ) -> Answer:
        """One request's answer; the HTTP server calls this from its request threads."""
        with self._lock:
            self._calls += 1
        match = MESSAGES_PATH.match(path)
        if method != "POST" or match is None:
            return error_answer(404, 20404, f"The requested resource {path} was not found")
        if not self._authorised(match["sid"], headers.get("authorization")):
            return error_answer(401, 20003, "Authenticate")
        failure = self._draw_failure()
        if failure is not None and not self.fail_after_accept:
            return _failure_answer(failure)
        invalid = _invalid_form(form)
        if invalid is not None:
            return invalid
        if form["To"] in self.opted_out:
            return error_answer(400, 21610, "Attempt to send to unsubscribed recipient")
        key = headers.get("idempotency-key") or headers.get("i-twilio-idempotency-token")
        answer = self._accept(form, key)
        if failure is None:
            return answer
        # Accepted, answer lost: the message is still delivered and still called back.
        return dataclasses.replace(_failure_answer(failure), after=answer.after)

    def _authorised(self, path_sid: str, authorization: str | None) -> bool:
        if path_sid != self.account_sid or not authorization:
            return False
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given, expected = f"{user}:{password}", f"{self.account_sid}:{self.auth_token}"
        return secrets.compare_digest(given.encode(), expected.encode())

    def _draw_failure(self) -> _Failure | None:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            if self.fail_rate and self._random.random() < self.fail_rate:
                return _Failure(500, None)
        return None

    def _accept(self, form: Mapping[str, str], key: str | None) -> Answer:
        """Store the message once per idempotency key; the same key replays the first answer."""
        with self._lock:
            if key and key in self._answers:
                return self._answers[key]
            record = _message_record(form, key)
            self._messages.append(record)
            answer = Answer(201, _message_json(self.account_sid, record))
            if key:
                self._answers[key] = answer
        callback_url, callbacks = form.get("StatusCallback"), self._callbacks
        if not callback_url or callbacks is None:
            return answer
        params = _callback_params(self.account_sid, record)
        # Posted once the answer is on the wire, as Twilio does, never for a replayed answer.
        return dataclasses.replace(answer, after=lambda: callbacks.deliver(callback_url, params))


def _invalid_form(form: Mapping[str, str]) -> Answer | None:
    """Twilio's 400 for the first thing wrong with the form, else None."""
    to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    if not to:
        return error_answer(400, 21604, "A 'To' phone number is required.")
    if not _valid_number(to):
        return error_answer(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not sender:
        return error_answer(400, 21603, "A 'From' phone number is required.")
    if not SENDER_ID.match(sender):
        return error_answer(
            400, 21212, f"The 'From' number {sender} is not a valid phone number or sender ID."
        )
    if not body.strip():
        return error_answer(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY:
        return error_answer(400, 21617, "The concatenated message body exceeds the 1600 limit.")
    return None


def _valid_number(raw: str) -> bool:
    """E.164 and an assigned range, as Twilio checks (and hk_core.pii.valid_phone)."""
    if not raw.startswith("+"):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        return False


def _failure_answer(failure: _Failure) -> Answer:
    headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    message = "Too Many Requests" if failure.status == 429 else "Service unavailable"
    return error_answer(failure.status, 20000 + failure.status, message, headers)


def _message_record(form: Mapping[str, str], key: str | None) -> dict[str, str]:
    return {
        "sid": "SM" + uuid.uuid4().hex,
        "to": form["To"],
        "from": form["From"],
        "body": form["Body"],
        "idempotency_key": key or "",
        "status_callback": form.get("StatusCallback", ""),
        "date_created": format_datetime(datetime.now(UTC), usegmt=True),
    }


def _message_json(account_sid: str, record: dict[str, str]) -> dict[str, Any]:
    """The fields of Twilio's Message resource a client reads."""
    return {
        "sid": record["sid"],
        "account_sid": account_sid,
        "to": record["to"],
        "from": record["from"],
        "body": record["body"],
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "num_segments": str(max(1, -(-len(record["body"]) // 160))),
        "date_created": record["date_created"],
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{record['sid']}.json",
    }


def _callback_params(account_sid: str, record: dict[str, str]) -> dict[str, str]:
    """What Twilio posts to a StatusCallback when a message is delivered."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "From": record["from"],
        "MessageSid": record["sid"],
        "MessageStatus": "delivered",
        "SmsSid": record["sid"],
        "SmsStatus": "delivered",
        "To": record["to"],
    }
