"""The SMS and email channels against real servers on loopback: the sinks the demo starts.

Each test sends through the production sender and asserts what a provider (or the seller's
mailbox) would hold, or the class and reason of the error the worker would act on.
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.channels import (
    EmailSender,
    PermanentSendError,
    SmsSender,
    TransientSendError,
    parse_smtp_url,
    retry_after_seconds,
    verify_twilio_signature,
)
from orchestrator.sinks import SmsSink, SmtpSink

SELLER_PHONE = "+12126661234"  # a valid NYC number (phonenumbers), not a real seller's
FROM_NUMBER = "+12025550123"
FROM_ADDRESS = "Hidden Key <hello@hiddenkey.example>"
SELLER_EMAIL = "seller@example.com"
CALLBACK_WAIT_SECONDS = 10.0
SCRIPT_STOP_SECONDS = 30.0


@pytest.fixture
def sms_sink() -> Iterator[SmsSink]:
    with SmsSink() as sink:
        yield sink


@pytest.fixture
def sender(sms_sink: SmsSink) -> Iterator[SmsSender]:
    with SmsSender(sms_sink.base_url, sms_sink.account_sid, sms_sink.auth_token, FROM_NUMBER) as s:
        yield s


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def bound_port() -> Iterator[int]:
    """A port bound and never listened on: connecting is refused, and nobody else takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_sms_reaches_the_provider_with_the_accounts_auth(sms_sink, sender):
    result = sender.send(SELLER_PHONE, "Hi Ann, about your house", idempotency_key="welcome-1")

    [stored] = sms_sink.messages
    assert (stored["to"], stored["from"], stored["body"]) == (
        SELLER_PHONE,
        FROM_NUMBER,
        "Hi Ann, about your house",
    )
    assert result.provider_id == stored["sid"] and result.provider_id.startswith("SM")
    assert len(result.provider_id) == 34 and result.status == "queued"
    assert stored["idempotency_key"] == "welcome-1"


def test_same_idempotency_key_twice_is_one_text(sms_sink, sender):
    first = sender.send(SELLER_PHONE, "Hello", idempotency_key="rule-1/lead-9/step-0")
    again = sender.send(SELLER_PHONE, "Hello", idempotency_key="rule-1/lead-9/step-0")
    other = sender.send(SELLER_PHONE, "Hello", idempotency_key="rule-1/lead-9/step-1")

    assert again == first and other.provider_id != first.provider_id
    assert [m["idempotency_key"] for m in sms_sink.messages] == [
        "rule-1/lead-9/step-0",
        "rule-1/lead-9/step-1",
    ]
    assert sms_sink.calls == 3


def test_retry_after_a_lost_answer_is_one_text():
    with SmsSink(fail_after_accept=True) as sink, _sender_for(sink) as sender:
        sink.fail_next(1, status=502)
        with pytest.raises(TransientSendError):
            sender.send(SELLER_PHONE, "Hello", idempotency_key="k-lost")
        result = sender.send(SELLER_PHONE, "Hello", idempotency_key="k-lost")

        [stored] = sink.messages
        assert result.provider_id == stored["sid"]


def test_concurrent_senders_with_the_same_keys_store_each_message_once(sms_sink):
    keys = [f"lead-{n}" for n in range(20)]

    def send_all(_: int) -> list[str]:
        with _sender_for(sms_sink) as sender:
            return [sender.send(SELLER_PHONE, "Hi", idempotency_key=k).provider_id for k in keys]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send_all, range(6)))

    assert len(sms_sink.messages) == len(keys)
    assert all(sids == answers[0] for sids in answers)  # every caller saw the same receipt


SENDING_PROCESS = """
import sys
from orchestrator.channels import SmsSender, TransientSendError
base_url, sid, token, to, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
with SmsSender(base_url, sid, token, "+12025550123") as sender:
    for key in keys:
        while True:
            try:
                sender.send(to, "Hi", idempotency_key=key)
                break
            except TransientSendError:
                pass
"""


def test_several_sending_processes_with_failures_store_each_message_once():
    keys = [f"lead-{n}" for n in range(60)]
    with SmsSink(fail_rate=0.2, seed=5) as sink:
        args = [sink.base_url, sink.account_sid, sink.auth_token, SELLER_PHONE]
        # Overlapping halves, as two workers would both pick up a job that one was killed in.
        shares = [keys[:40], keys[20:], keys[10:50], keys[::-1]]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", SENDING_PROCESS, *args, *share],
                cwd=Path(__file__).parents[1],
            )
            for share in shares
        ]
        assert [p.wait(timeout=SCRIPT_STOP_SECONDS * 4) for p in processes] == [0] * len(shares)

        stored = sorted(m["idempotency_key"] for m in sink.messages)
        assert stored == sorted(keys)
        assert sink.calls > sum(len(share) for share in shares)  # some calls failed


def test_retrying_transient_failures_gives_exactly_one_text_per_message():
    with SmsSink(fail_rate=0.3, seed=11) as sink, _sender_for(sink) as sender:
        failures = 0
        for n in range(40):
            while True:
                try:
                    sender.send(SELLER_PHONE, "Hi", idempotency_key=f"lead-{n}")
                    break
                except TransientSendError:
                    failures += 1
        assert failures > 0  # the injection did happen
        assert sorted(m["idempotency_key"] for m in sink.messages) == sorted(
            f"lead-{n}" for n in range(40)
        )
        assert sink.calls == 40 + failures


def test_fail_rate_is_the_same_for_the_same_seed():
    def failures(seed: int) -> list[bool]:
        with SmsSink(fail_rate=0.5, seed=seed) as sink, _sender_for(sink) as sender:
            outcome = []
            for n in range(30):
                try:
                    sender.send(SELLER_PHONE, "Hi", idempotency_key=f"k{n}")
                    outcome.append(False)
                except TransientSendError:
                    outcome.append(True)
            return outcome

    assert failures(3) == failures(3)
    assert failures(3) != failures(4)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(500, None, None), (503, "30", 30.0), (429, 7, 7.0), (429, 1.5, 1.5)],
)
def test_server_errors_and_rate_limits_are_transient(
    sms_sink, sender, status, retry_after, expected
):
    sms_sink.fail_next(1, status=status, retry_after=retry_after)

    with pytest.raises(TransientSendError) as raised:
        sender.send(SELLER_PHONE, "Hi", idempotency_key="k")

    assert raised.value.retry_after == expected
    assert f"HTTP {status}" in raised.value.reason
    assert sms_sink.messages == []
    assert sender.send(SELLER_PHONE, "Hi", idempotency_key="k").status == "queued"


def test_retry_after_as_an_http_date_is_seconds_from_now(sms_sink, sender):
    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    sms_sink.fail_next(1, status=429, retry_after=format_datetime(in_an_hour, usegmt=True))

    with pytest.raises(TransientSendError) as raised:
        sender.send(SELLER_PHONE, "Hi", idempotency_key="k")

    assert raised.value.retry_after is not None
    assert 3000 < raised.value.retry_after <= 3600


def test_retry_after_reading():
    now = dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC).timestamp()
    assert retry_after_seconds("120", now=now) == 120.0
    assert retry_after_seconds("Sun, 08 Mar 2026 12:02:00 GMT", now=now) == 120.0
    assert retry_after_seconds("Sun, 08 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None and retry_after_seconds(" ") is None


def test_invalid_number_is_permanent_with_the_providers_message_and_no_number(sms_sink, sender):
    with pytest.raises(PermanentSendError) as raised:
        sender.send("+15555550123", "Hi", idempotency_key="k")

    error = raised.value
    assert error.code == "21211"
    assert "is not a valid phone number" in error.reason and "HTTP 400" in error.reason
    assert "5555550123" not in error.reason and "5555550123" not in str(error)
    assert sms_sink.messages == []


def test_empty_body_is_permanent(sender):
    with pytest.raises(PermanentSendError) as raised:
        sender.send(SELLER_PHONE, "   ", idempotency_key="k")
    assert raised.value.code == "21602"


@pytest.mark.parametrize("token", ["not-the-token", "tökén-not-ascii"])
def test_wrong_token_is_permanent_and_sends_nothing(sms_sink, token):
    with (
        SmsSender(sms_sink.base_url, sms_sink.account_sid, token, FROM_NUMBER) as s,
        pytest.raises(PermanentSendError) as raised,
    ):
        s.send(SELLER_PHONE, "Hi", idempotency_key="k")
    assert raised.value.code == "20003" and "HTTP 401" in raised.value.reason
    assert sms_sink.messages == []


def test_refused_connection_and_timeout_are_transient(bound_port, silent_port):
    for port, words in ((bound_port, "unreachable"), (silent_port, "timed out")):
        with (
            SmsSender(f"http://127.0.0.1:{port}", "AC1", "t", FROM_NUMBER, timeout=0.5) as s,
            pytest.raises(TransientSendError) as raised,
        ):
            s.send(SELLER_PHONE, "Hi", idempotency_key="k")
        assert words in raised.value.reason and raised.value.retry_after is None


def test_sender_settings_are_checked_by_name():
    with pytest.raises(ValueError, match="auth_token"):
        SmsSender("http://127.0.0.1:1", "AC1", "", FROM_NUMBER)
    with pytest.raises(ValueError, match="base_url"):
        SmsSender("127.0.0.1:1", "AC1", "t", FROM_NUMBER)


def test_delivery_callback_is_signed_and_sent_once_per_message(sms_sink):
    with _CallbackReceiver() as receiver, _sender_for(sms_sink, receiver.url) as sender:
        first = sender.send(SELLER_PHONE, "Hi", idempotency_key="a")
        sender.send(SELLER_PHONE, "Hi", idempotency_key="a")  # a replay: no second callback
        second = sender.send(SELLER_PHONE, "Hi", idempotency_key="b")
        assert receiver.wait_for(2)
        sms_sink.stop()  # sends whatever is still queued, then ends

    assert sorted(form["MessageSid"] for form, _ in receiver.posts) == sorted(
        [first.provider_id, second.provider_id]
    )
    for form, signature in receiver.posts:
        assert form["MessageStatus"] == "delivered" and form["To"] == SELLER_PHONE
        assert verify_twilio_signature(receiver.url, form, sms_sink.auth_token, signature)
        tampered = {**form, "MessageStatus": "failed"}
        assert not verify_twilio_signature(receiver.url, tampered, sms_sink.auth_token, signature)


def test_email_arrives_with_one_click_unsubscribe_and_a_stable_message_id(smtp_sink):
    sender = EmailSender(smtp_sink.url, from_address=FROM_ADDRESS)

    result = sender.send(
        SELLER_EMAIL,
        "About 12 Oak St",
        "Hi Ann, would you consider an offer?",
        message_id="msg-42.welcome",
        unsubscribe_url="https://hk.example/u/tok-42",
        unsubscribe_mailto="unsubscribe@hiddenkey.example",
        html="<p>Hi Ann, would you consider an offer?</p>",
    )

    [received] = smtp_sink.messages
    message = received.message
    assert result.provider_id == message["Message-ID"] == "<msg-42.welcome@hiddenkey.example>"
    # Folded after the colon when long (legal, RFC 5322 2.2.3); the value is what counts.
    assert " ".join(message["List-Unsubscribe"].split()) == (
        "<https://hk.example/u/tok-42>, <mailto:unsubscribe@hiddenkey.example>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (message["From"], message["To"], message["Subject"]) == (
        FROM_ADDRESS,
        SELLER_EMAIL,
        "About 12 Oak St",
    )
    assert received.mail_from == "hello@hiddenkey.example"
    assert received.rcpt_tos == (SELLER_EMAIL,)
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None and "would you consider" in body.get_content()
    assert html is not None and "<p>" in html.get_content()


def test_resend_carries_the_same_message_id(smtp_sink):
    sender = EmailSender(smtp_sink.url, from_address=FROM_ADDRESS)
    for _ in range(2):
        sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
    sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-2", unsubscribe_url=None)

    assert len(smtp_sink.messages) == 3 and smtp_sink.unique_count() == 2
    assert "List-Unsubscribe" not in smtp_sink.messages[0].message


def test_smtp_4xx_is_transient_and_5xx_is_permanent_with_the_servers_text(smtp_sink):
    sender = EmailSender(smtp_sink.url, from_address=FROM_ADDRESS)

    smtp_sink.fail_next(1, code=451)
    with pytest.raises(TransientSendError) as temporary:
        sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
    smtp_sink.fail_next(1, code=550)
    with pytest.raises(PermanentSendError) as refused:
        sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)

    assert temporary.value.code == "451" and "try again later" in temporary.value.reason
    assert refused.value.code == "550" and "Mailbox unavailable" in refused.value.reason
    assert smtp_sink.messages == []
    sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
    assert smtp_sink.unique_count() == 1


def test_required_starttls_against_a_server_without_it_is_permanent(smtp_sink):
    sender = EmailSender(smtp_sink.url + "?starttls=1", from_address=FROM_ADDRESS)

    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
        sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
    assert smtp_sink.messages == []


def test_starttls_is_used_when_offered_and_skipped_only_when_told(tls_contexts):
    server_context, client_context = tls_contexts
    with SmtpSink(tls_context=server_context, require_starttls=True) as sink:
        upgraded = EmailSender(sink.url, from_address=FROM_ADDRESS, ssl_context=client_context)
        upgraded.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
        plain = EmailSender(sink.url + "?starttls=0", from_address=FROM_ADDRESS)
        with pytest.raises(PermanentSendError, match="530"):
            plain.send(SELLER_EMAIL, "Hi", "text", message_id="m-2", unsubscribe_url=None)

        assert [m.message["Message-ID"] for m in sink.messages] == ["<m-1@hiddenkey.example>"]


def test_smtps_is_tls_from_the_first_byte_and_checks_the_certificate(tls_contexts):
    server_context, client_context = tls_contexts
    with SmtpSink(tls_context=server_context, implicit_tls=True) as sink:
        assert sink.url.startswith("smtps://")
        trusting = EmailSender(sink.url, from_address=FROM_ADDRESS, ssl_context=client_context)
        trusting.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)
        default_trust = EmailSender(sink.url, from_address=FROM_ADDRESS)
        with pytest.raises(PermanentSendError, match="certificate"):
            default_trust.send(SELLER_EMAIL, "Hi", "text", message_id="m-2", unsubscribe_url=None)

        assert len(sink.messages) == 1


def test_credentials_from_the_url_are_decoded_and_used():
    user, password = "hk@demo", "p@ss:w/rd %"
    with SmtpSink(credentials=(user, password)) as sink:
        port = sink.port
        url = f"smtp://hk%40demo:p%40ss%3Aw%2Frd%20%25@127.0.0.1:{port}"
        EmailSender(url, from_address=FROM_ADDRESS).send(
            SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None
        )
        wrong = f"smtp://hk%40demo:nope@127.0.0.1:{port}"
        with pytest.raises(PermanentSendError, match="535"):
            EmailSender(wrong, from_address=FROM_ADDRESS).send(
                SELLER_EMAIL, "Hi", "text", message_id="m-2", unsubscribe_url=None
            )
        with pytest.raises(PermanentSendError, match="530"):
            EmailSender(sink.url, from_address=FROM_ADDRESS).send(
                SELLER_EMAIL, "Hi", "text", message_id="m-3", unsubscribe_url=None
            )

        [received] = sink.messages
        assert received.login == user


def test_unreachable_and_silent_smtp_servers_are_transient(bound_port, silent_port):
    for port in (bound_port, silent_port):
        sender = EmailSender(f"smtp://127.0.0.1:{port}", from_address=FROM_ADDRESS, timeout=0.5)
        with pytest.raises(TransientSendError, match="smtp"):
            sender.send(SELLER_EMAIL, "Hi", "text", message_id="m-1", unsubscribe_url=None)


def test_bad_message_content_is_permanent_and_names_the_field(smtp_sink):
    sender = EmailSender(smtp_sink.url, from_address=FROM_ADDRESS)
    with pytest.raises(PermanentSendError, match="subject"):
        sender.send(SELLER_EMAIL, "Hi\r\nBcc: x@y.z", "t", message_id="m", unsubscribe_url=None)
    with pytest.raises(PermanentSendError, match="^to: not an email address$"):
        sender.send("no-address", "Hi", "t", message_id="m", unsubscribe_url=None)
    with pytest.raises(ValueError, match="message_id"):
        sender.send(SELLER_EMAIL, "Hi", "t", message_id="a b@c", unsubscribe_url=None)
    for url in ("javascript:x", "http://hk.example/u/1", "https:///u/1"):
        with pytest.raises(ValueError, match="unsubscribe_url"):
            sender.send(SELLER_EMAIL, "Hi", "t", message_id="m", unsubscribe_url=url)
    assert smtp_sink.messages == []
    sender.send(SELLER_EMAIL, "Hi", "t", message_id="m", unsubscribe_url="http://127.0.0.1:8000/u")
    [received] = smtp_sink.messages  # the demo's API on loopback has no certificate
    assert received.message["List-Unsubscribe"] == "<http://127.0.0.1:8000/u>"


def test_smtp_url_reading():
    target = parse_smtp_url("smtp://u%40x:p%3Aw@mail.example:2525?starttls=1")
    assert (target.host, target.port, target.username, target.password) == (
        "mail.example",
        2525,
        "u@x",
        "p:w",
    )
    assert target.starttls is True and not target.implicit_tls
    assert parse_smtp_url("smtps://mail.example").port == 465
    assert parse_smtp_url("smtp://mail.example").starttls is None
    for bad, field in (
        ("http://mail.example", "scheme"),
        ("smtp://mail.example?starttls=yes", "starttls"),
        ("smtps://mail.example?starttls=1", "smtps"),
    ):
        with pytest.raises(ValueError, match=field):
            parse_smtp_url(bad)
    with pytest.raises(ValueError, match="from_address"):
        EmailSender("smtp://mail.example", from_address="nobody")


def test_sinks_run_from_a_plain_script_until_sigterm():
    root = Path(__file__).parents[1]
    script = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.sinks"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert script.stdout is not None
        settings = {}
        for line in script.stdout:
            if line.startswith("Ctrl-C"):
                break
            name, _, value = line.strip().partition("=")
            settings[name] = value
        with SmsSender(
            settings["HK_SMS_BASE_URL"],
            settings["HK_SMS_ACCOUNT_SID"],
            settings["HK_SMS_AUTH_TOKEN"],
            FROM_NUMBER,
        ) as sender:
            result = sender.send(SELLER_PHONE, "Hi", idempotency_key="by-hand")
        EmailSender(settings["HK_SMTP_URL"], from_address=FROM_ADDRESS).send(
            SELLER_EMAIL, "Hi", "text", message_id="by-hand", unsubscribe_url=None
        )
        printed = {script.stdout.readline().split()[1] for _ in range(2)}
        assert printed == {result.provider_id, "<by-hand@hiddenkey.example>"}
        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=SCRIPT_STOP_SECONDS) == 0
    finally:
        if script.poll() is None:
            script.kill()


def _sender_for(sink: SmsSink, callback_url: str | None = None) -> SmsSender:
    return SmsSender(
        sink.base_url,
        sink.account_sid,
        sink.auth_token,
        FROM_NUMBER,
        status_callback_url=callback_url,
    )


class _CallbackReceiver:
    """A loopback HTTP server standing in for the platform's status-callback webhook."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], str | None]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with receiver._changed:
                    receiver.posts.append((form, self.headers.get("X-Twilio-Signature")))
                    receiver._changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/webhooks/sms/status"

    def wait_for(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self.posts) >= count, timeout=CALLBACK_WAIT_SECONDS
            )

    def __enter__(self) -> _CallbackReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate."""
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = _self_signed_certificate(folder)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hk-smtp-sink")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
