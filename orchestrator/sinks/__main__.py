"""`python -m orchestrator.sinks`: both sinks on loopback until SIGINT or SIGTERM.

Prints the settings that point the platform at them, then a line per message received.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from orchestrator.sinks import SmsSink, SmtpSink

POLL_SECONDS = 1.0


def main() -> None:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with SmtpSink() as smtp, SmsSink() as sms:
        print(f"HK_SMTP_URL={smtp.url}")
        print(f"HK_SMS_BASE_URL={sms.base_url}")
        print(f"HK_SMS_ACCOUNT_SID={sms.account_sid}")
        print(f"HK_SMS_AUTH_TOKEN={sms.auth_token}")
        print("Ctrl-C stops both.", flush=True)
        seen_emails = seen_texts = 0
        while not stopping.wait(POLL_SECONDS):
            emails, texts = smtp.messages, sms.messages
            for received in emails[seen_emails:]:
                print(f"email  {received.message['Message-ID']}  {received.message['Subject']}")
            for text in texts[seen_texts:]:
                print(f"sms    {text['sid']}  {len(text['body'])} chars")
            seen_emails, seen_texts = len(emails), len(texts)
            print("", end="", flush=True)


if __name__ == "__main__":
    main()
