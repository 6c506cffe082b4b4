"""The channels a message leaves by (SMTP, an SMS provider) and what comes back from them.

No database here: the worker job that holds a message's row lock calls `send` and stores the
`SendResult`, or acts on the `SendError`'s class and reason.
"""

from __future__ import annotations

from orchestrator.channels.email import EmailSender, SmtpTarget, parse_smtp_url
from orchestrator.channels.errors import (
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
    retry_after_seconds,
)
from orchestrator.channels.inbound import (
    opt_in_keyword,
    opt_out_keyword,
    twilio_signature,
    verify_twilio_signature,
)
from orchestrator.channels.sms import SmsSender

__all__ = [
    "EmailSender",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "SmsSender",
    "SmtpTarget",
    "TransientSendError",
    "opt_in_keyword",
    "opt_out_keyword",
    "parse_smtp_url",
    "retry_after_seconds",
    "twilio_signature",
    "verify_twilio_signature",
]
