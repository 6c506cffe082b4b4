"""The send-time checks: may this message go to this lead now, later, or never?

Evaluated by the worker when a message is about to be sent (never when it is queued), on the
lead as it is at that moment, in this order: the sequence still running, a contact to send to,
consent for the channel, the suppression list (opt-outs, unsubscribes, do-not-contact), quiet
hours on the recipient's clock, the per-lead daily cap. A compliance message (the confirmation
of an opt-out) is a reply the law requires, so only the contact check applies to it.
Every check's outcome is written on the message, in order, whether it passed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from orchestrator.quiet_hours import (
    QuietHours,
    Zones,
    local_day_bounds,
    next_allowed,
    zones_for,
)
from orchestrator.recipient_zones import DEFAULT_ZONES


@dataclass(frozen=True)
class Check:
    check: str
    outcome: Literal["pass", "block", "defer"]
    detail: str = ""

    def as_json(self, at: datetime) -> dict[str, Any]:
        return {
            "at": at.isoformat(),
            "check": self.check,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    send_at: datetime | None = None  # set when deferred

    @property
    def outcome(self) -> str:
        return (
            self.checks[-1].outcome if self.checks and self.checks[-1].outcome != "pass" else "send"
        )

    @property
    def reason(self) -> str:
        last = self.checks[-1]
        return f"{last.check}: {last.detail}" if last.detail else last.check

    def require(self, check: str, ok: bool, failure: str) -> bool:
        """Record a check that passes or blocks; ``failure`` is its detail when it blocks."""
        return self.add(check, "pass" if ok else "block", "" if ok else failure)

    def add(self, check: str, outcome: Literal["pass", "block", "defer"], detail: str = "") -> bool:
        self.checks.append(Check(check, outcome, detail))
        return outcome == "pass"


def recipient_zones(lead: dict[str, Any]) -> Zones:
    try:
        return zones_for(
            state=lead.get("property_state"),
            zip_code=lead.get("property_zip"),
            phone_e164=lead.get("phone_e164"),
        )
    except ValueError:
        # A stored number the library cannot place: fall back to the address alone, else all zones.
        try:
            return zones_for(
                state=lead.get("property_state"), zip_code=lead.get("property_zip"), phone_e164=None
            )
        except ValueError:
            return DEFAULT_ZONES


@dataclass(frozen=True)
class Facts:
    """What the worker read under the message's lock, for ``evaluate`` to decide on."""

    channel: str
    purpose: str
    lead: dict[str, Any]
    run_status: str | None
    run_stop_reason: str | None
    suppression: str | None  # the reason of a matching suppression row
    sent_today: int  # messages of this channel sent to the lead in its local day
    channel_configured: bool


def evaluate(facts: Facts, now: datetime, hours: QuietHours, cap: int) -> Verdict:
    verdict = Verdict()
    lead, channel = facts.lead, facts.channel
    contact = lead.get("phone_e164") if channel == "sms" else lead.get("email_normalized")
    if not verdict.require(
        "channel", facts.channel_configured, f"the {channel} channel is not configured"
    ):
        return verdict
    what = "phone number" if channel == "sms" else "email address"
    if not verdict.require("contact", bool(contact), f"the lead has no {what}"):
        return verdict
    if facts.purpose == "compliance":
        verdict.add(
            "purpose", "pass", "a compliance reply: consent, quiet hours and caps do not apply"
        )
        return verdict
    if facts.run_status == "stopped":
        verdict.add("sequence", "block", f"the sequence stopped ({facts.run_stop_reason})")
        return verdict
    consent = bool(lead.get(f"consent_{channel}"))
    if not verdict.require("consent", consent, f"no consent (consent_{channel} is false)"):
        return verdict
    if facts.suppression:
        verdict.add("suppression", "block", facts.suppression)
        return verdict
    verdict.add("suppression", "pass")
    zones = recipient_zones(lead)
    state = lead.get("property_state")
    allowed = next_allowed(now, zones, hours, state)
    where = f"{', '.join(zones.names)} from the {zones.source}"
    if allowed is None:
        verdict.add("quiet_hours", "block", f"no common sending window in {where}")
        return verdict
    if allowed > now:
        verdict.send_at = allowed
        verdict.add("quiet_hours", "defer", f"outside {hours.window_for(state)} in {where}; next allowed {allowed.isoformat()}")  # fmt: skip
        return verdict
    verdict.add("quiet_hours", "pass", f"inside {hours.window_for(state)} in {where}")
    if facts.sent_today >= cap:
        _, day_end = local_day_bounds(now, zones)
        later = next_allowed(day_end, zones, hours, state)
        if later is None:
            verdict.add(
                "cap", "block", f"{cap} {channel} messages a day reached, and no later window"
            )
            return verdict
        verdict.send_at = later
        verdict.add("cap", "defer", f"{facts.sent_today} of {cap} {channel} messages sent today; next day {later.isoformat()}")  # fmt: skip
        return verdict
    verdict.add("cap", "pass", f"{facts.sent_today} of {cap} sent today")
    return verdict


def day_bounds(lead: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    return local_day_bounds(now, recipient_zones(lead))
