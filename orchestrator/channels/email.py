"""Email over SMTP, from one URL: `smtp://[user:pass@]host[:port][?starttls=0|1]` or `smtps://…`.

- `smtp://` upgrades with STARTTLS whenever the server offers it; `?starttls=1` refuses to
  send in the clear when it does not, `?starttls=0` never upgrades (a loopback sink).
- `smtps://` is TLS from the first byte (port 465 by default).
- Credentials are URL-decoded; AUTH only happens when the URL carries them.

One connection per message: servers drop idle sessions (RFC 5321 timeouts), and the worker
sends one message per job anyway. The Message-ID is derived from the caller's id, so a resend
after a lost answer carries the same id and a receiver can tell it is the same message.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from orchestrator.channels.errors import PermanentSendError, SendResult, TransientSendError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # the demo's own API
_MESSAGE_ID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+=")


@dataclass(frozen=True)
class SmtpTarget:
    """What an SMTP URL says: where, how to secure the session, and who to log in as."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool | None  # None: when offered; True: required; False: never
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """Read an SMTP URL; a ValueError names the part that is wrong (the password never)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"smtp_url: scheme must be smtp:// or smtps://, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("smtp_url: no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError("smtp_url: the port is not a number in 1-65535") from exc
    flag = parse_qs(parts.query).get("starttls", [None])[-1]
    if flag not in (None, "0", "1"):
        raise ValueError(f"smtp_url: starttls must be 0 or 1, got {flag!r}")
    if parts.scheme == "smtps" and flag == "1":
        raise ValueError("smtp_url: smtps:// is already TLS; starttls=1 applies to smtp:// only")
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        starttls=None if flag is None else flag == "1",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class EmailSender:
    """One relay and one sender address; `ssl_context` for a relay behind a private CA."""

    def __init__(
        self,
        smtp_url: str,
        *,
        from_address: str,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = parse_smtp_url(smtp_url)
        _, address = parseaddr(from_address)
        if "@" not in address or not address.rsplit("@", 1)[1]:
            raise ValueError("from_address: not an email address with a domain")
        self.from_address = from_address
        self.domain = address.rsplit("@", 1)[1].lower()
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        unsubscribe_url: str | None,
        unsubscribe_mailto: str | None = None,
        html: str | None = None,
    ) -> SendResult:
        """Hand one email to the relay; raises TransientSendError or PermanentSendError.

        A ValueError (a malformed `message_id` or `unsubscribe_url`) is the caller's bug, not
        the seller's or the relay's, so it is not dressed up as a send error."""
        message = self.build(
            to,
            subject,
            text,
            message_id=message_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            html=html,
        )
        try:
            session = self._session()
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from exc
        try:
            session.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from exc
        finally:
            _quit_quietly(session)
        return SendResult(provider_id=str(message["Message-ID"]), status="sent")

    def build(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        unsubscribe_url: str | None,
        unsubscribe_mailto: str | None = None,
        html: str | None = None,
    ) -> EmailMessage:
        """The message as it will be sent (public so a preview can show the exact headers)."""
        if not message_id or not set(message_id) <= _MESSAGE_ID_SAFE:
            raise ValueError("message_id: letters, digits and . - _ + = only, not empty")
        message = EmailMessage()
        message["To"] = _recipient(to)
        try:
            message["Subject"] = subject
        except ValueError as exc:  # a CR/LF in the subject would be header injection
            raise PermanentSendError(f"subject: {exc}") from exc
        message["From"] = self.from_address
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{message_id}@{self.domain}>"
        unsubscribe = _list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
        if unsubscribe:
            message["List-Unsubscribe"] = unsubscribe
        if unsubscribe_url:  # RFC 8058: one-click needs the URL, a mailto alone cannot POST
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def _session(self) -> smtplib.SMTP:
        """A connected session, upgraded and logged in as the URL says."""
        target = self.target
        session: smtplib.SMTP
        if target.implicit_tls:
            session = smtplib.SMTP_SSL(
                target.host, target.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            session = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
        try:
            session.ehlo()
            if not target.implicit_tls and target.starttls is not False:
                if session.has_extn("starttls"):
                    session.starttls(context=self.ssl_context)
                    session.ehlo()
                elif target.starttls:
                    raise StartTlsUnavailable
            if target.username is not None:
                session.login(target.username, target.password or "")
        except BaseException:
            session.close()
            raise
        return session


class StartTlsUnavailable(smtplib.SMTPNotSupportedError):
    """The URL requires STARTTLS (`?starttls=1`) and the server does not offer it."""


def _recipient(to: str) -> str:
    """The To header; checked without ever putting the address in the error."""
    _, address = parseaddr(to)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c in to for c in "\r\n"):
        raise PermanentSendError("to: not an email address")
    return to


def _quit_quietly(session: smtplib.SMTP) -> None:
    """QUIT after the relay answered: a failure here cannot undo what it accepted."""
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        session.close()


def _list_unsubscribe(url: str | None, mailto: str | None) -> str | None:
    """`<https://…>, <mailto:…>` (RFC 2369), the URL first so one-click clients find it."""
    entries = []
    if url:
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if not (parts.scheme == "https" or loopback) or not parts.hostname:
            raise ValueError("unsubscribe_url: must be https:// (RFC 8058; http:// on loopback)")
        entries.append(f"<{url}>")
    if mailto:
        entries.append(f"<{mailto if mailto.startswith('mailto:') else 'mailto:' + mailto}>")
    return ", ".join(entries) or None


def _classify(exc: BaseException) -> PermanentSendError | TransientSendError:
    """SMTP's own rule: 4xx is "try again later", 5xx is "never"; the network is transient."""
    if isinstance(exc, StartTlsUnavailable):
        # Permanent: the server's capabilities will not change between retries, and sending
        # in the clear instead is what the setting forbids. The operator has to act.
        return PermanentSendError(
            "smtp: the server does not offer STARTTLS, which the SMTP URL requires (starttls=1)"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _by_code(code, text, "recipient refused")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, exc.smtp_error, type(exc).__name__)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientSendError(f"smtp: the server closed the connection ({exc})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentSendError(f"smtp: the server's certificate does not verify ({exc})")
    if isinstance(exc, OSError):
        return TransientSendError(f"smtp: server unreachable ({type(exc).__name__}: {exc})")
    # Left: no common AUTH mechanism, an extension the server lacks: configuration, not luck.
    return PermanentSendError(f"smtp: {exc}")


def _by_code(code: int, text: bytes | str, what: str) -> PermanentSendError | TransientSendError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    reason = f"smtp {code} ({what}): {reply}"
    if 400 <= code < 500:
        return TransientSendError(reason, code=str(code))
    if code < 0:  # smtplib's -1: the connection ended without a reply
        return TransientSendError(reason)
    return PermanentSendError(reason, code=str(code))
