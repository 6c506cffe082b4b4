"""Local stand-ins for the providers, as real servers on loopback: an SMTP relay and an SMS API.

The demo and the tests start them; `python -m orchestrator.sinks` starts both for a developer
trying the loop by hand.
"""

from __future__ import annotations

from orchestrator.sinks.sms import SmsSink
from orchestrator.sinks.smtp import ReceivedEmail, SmtpSink

__all__ = ["ReceivedEmail", "SmsSink", "SmtpSink"]
