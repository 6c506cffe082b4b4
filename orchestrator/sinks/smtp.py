"""A real SMTP server on loopback that keeps what it receives: the demo's and the tests' relay.

aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to start), so the
sink binds a socket to a free port first and hands that socket to the server: no window in
which another process can take the port between "found free" and "listening".
"""

from __future__ import annotations

import asyncio
import email
import logging
import socket
import ssl
import threading
import warnings
from collections.abc import Awaitable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# aiosmtpd logs every SMTP command at INFO: a sink's conversation is noise, not news.
logging.getLogger("mail.log").setLevel(logging.WARNING)

FAILURE_TEXT = {4: "4.3.0 Temporary failure, try again later", 5: "5.1.1 Mailbox unavailable"}


@dataclass(frozen=True)
class ReceivedEmail:
    """One accepted message: the envelope, the parsed message, the bytes as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    login: str | None  # who authenticated, when the session did


class _BoundController(Controller):
    """A Controller that serves on a socket bound before it starts."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def factory(self) -> SMTP:
        # AUTH without TLS is the point of a loopback sink; aiosmtpd warns once per connection.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpSink:
    """SMTP on 127.0.0.1. `credentials` require AUTH; `tls_context` offers STARTTLS (refusing
    mail before it when `require_starttls`), or with `implicit_tls` serves TLS from the first
    byte (an smtps:// relay)."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: bool = False,
    ) -> None:
        if (require_starttls or implicit_tls) and tls_context is None:
            raise ValueError("tls_context: required for require_starttls or implicit_tls")
        self.credentials = credentials
        self.tls_context = tls_context
        self.require_starttls = require_starttls
        self.implicit_tls = implicit_tls
        self._lock = threading.Lock()
        self._messages: list[ReceivedEmail] = []
        self._failures: list[int] = []
        self._controller: _BoundController | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("SmtpSink: start() it first")
        return f"{'smtps' if self.implicit_tls else 'smtp'}://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self._messages)

    def unique_count(self) -> int:
        """Distinct Message-IDs received: a resend of one message counts once."""
        with self._lock:
            return len({str(m.message["Message-ID"]) for m in self._messages})

    def fail_next(self, n: int, code: int = 451) -> None:
        """Refuse the next `n` recipients with `code` (4xx: try later, 5xx: never)."""
        if not 400 <= code < 600:
            raise ValueError(f"code: an SMTP failure is 4xx or 5xx, got {code}")
        with self._lock:
            self._failures.extend([code] * n)

    def start(self) -> SmtpSink:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        kwargs: dict[str, Any] = {"server_hostname": "hk-smtp-sink", "decode_data": False}
        if self.credentials is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        if self.implicit_tls:
            kwargs.update(ssl_context=self.tls_context)
        elif self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=self.require_starttls)
        self._controller = _BoundController(_Handler(self), sock, **kwargs)
        self._controller.start()
        self.port = sock.getsockname()[1]
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator: LOGIN/PLAIN against the sink's one user."""
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == self.credentials
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _store(self, received: ReceivedEmail) -> None:
        with self._lock:
            self._messages.append(received)


class _Handler:
    """aiosmtpd's handler hooks, storing into the sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self.sink._take_failure()
        if code is not None:
            return f"{code} {FAILURE_TEXT[code // 100]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or cast(bytes, envelope.content)
        message = cast(EmailMessage, email.message_from_bytes(raw, policy=default_policy))
        login = cast(str | None, session.auth_data) if session.authenticated else None
        received = ReceivedEmail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            raw=raw,
            login=login,
        )
        self.sink._store(received)
        return "250 Message accepted for delivery"
