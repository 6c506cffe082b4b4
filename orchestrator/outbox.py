"""Sending one outbox row, once: lock it, check compliance now, call the provider, record it.

The row is locked (``for update``) for the whole attempt, provider call included, so two jobs for
one message (a retry racing a stalled job's reaper, say) cannot both send: the second waits, then
sees ``sent``. A worker killed during the call leaves the row unchanged (its transaction dies
with it) and the retry calls the provider again with the same idempotency key, which a provider
that honours the key answers without sending twice (docs/workflow.md names the window where a
provider without one could).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import psycopg
from psycopg.rows import dict_row

from orchestrator.channels import EmailSender, PermanentSendError, SmsSender, TransientSendError
from orchestrator.compliance import Facts, Verdict, day_bounds, evaluate
from orchestrator.queue import SEND, defer
from orchestrator.replies import apply_statuses, lock_provider_id, suppress
from orchestrator.rules import RulesFile

log = logging.getLogger(__name__)

FINAL = ("sent", "delivered", "failed", "blocked")
# Twilio's "attempt to send to unsubscribed recipient": the carrier-level STOP list.
TWILIO_OPTED_OUT = "21610"


class RetryLater(Exception):
    """A transient provider failure: the job is retried with backoff (at least ``retry_after``)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Channels:
    sms: SmsSender | None
    email: EmailSender | None
    public_base_url: str
    unsubscribe_key: bytes

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.public_base_url.rstrip('/')}/v1/unsubscribe/{unsubscribe_token(self.unsubscribe_key, message_id)}"


def unsubscribe_token(key: bytes, message_id: int) -> str:
    mac = hmac.new(key, f"unsubscribe:{message_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{message_id}.{mac}"


def read_unsubscribe_token(key: bytes, token: str) -> int | None:
    """The message id a token was issued for, or None when it was not issued by us."""
    head, _, _ = token.partition(".")
    if not (head.isascii() and head.isdigit()) or len(head) > 18:
        return None
    expected = unsubscribe_token(key, int(head))
    return int(head) if hmac.compare_digest(expected, token) else None


# The message, its run and what compliance needs of its lead, in one round trip; the lock is
# the message's only.
_MESSAGE_SQL = """
select m.message_id, m.lead_id, m.channel, m.purpose, m.subject, m.body, m.status,
    m.attempts, r.status as run_status, r.stop_reason,
    l.phone_e164, l.email_normalized, l.phone_hash, l.email_hash, l.consent_sms,
    l.consent_email, l.property_state, l.property_zip
from app.messages as m
join app.leads as l on l.lead_id = m.lead_id
left join app.automation_runs as r on r.run_id = m.run_id
where m.message_id = %s
for update of m
"""
# The suppression and the day's count in one round trip: the send job's fixed cost is mostly
# statements (benchmarks/README.md, "Automations").
_FACTS_SQL = """
select
    (select reason from app.suppressions
     where contact_hash = %(contact)s and channel in (%(channel)s, 'all')
     order by created_at limit 1),
    (select count(*) from app.messages
     where lead_id = %(lead)s and channel = %(channel)s and purpose = 'marketing'
         and sent_at >= %(start)s and sent_at < %(end)s and message_id <> %(message)s)
"""


async def send_message(
    conn: psycopg.AsyncConnection,
    message_id: int,
    rules: RulesFile,
    channels: Channels,
    *,
    attempt: int,
    max_attempts: int,
    now: datetime | None = None,
) -> str:
    """One attempt at a message; returns its status afterwards. Raises RetryLater to retry."""
    now = now or datetime.now(UTC)
    retry: RetryLater | None = None
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_MESSAGE_SQL, (message_id,))
            message = await cur.fetchone()
            if message is None or message["status"] in FINAL:
                return message["status"] if message else "missing"
        lead = message  # the lead's columns came with it
        verdict = evaluate(
            await _facts(conn, message, lead, channels, now),
            now,
            rules.hours,
            rules.caps.for_channel(message["channel"]),
        )
        decisions = [check.as_json(now) for check in verdict.checks]
        if verdict.outcome == "block":
            await _finish(conn, message_id, "blocked", verdict.reason, decisions)
            return "blocked"
        if verdict.outcome == "defer":
            assert verdict.send_at is not None
            await _defer(conn, message_id, verdict, decisions)
            return "deferred"
        status, reason, provider_id, retry = await _call_provider(
            message, lead, channels, attempt=attempt, max_attempts=max_attempts
        )
        decisions.append({"at": now.isoformat(), "check": "provider", "outcome": status,
                          "detail": reason or f"accepted as {provider_id}"})  # fmt: skip
        if provider_id:
            await lock_provider_id(conn, provider_id)
        await _finish(
            conn, message_id, status, reason, decisions, provider_id=provider_id, sent_at=now
        )
        if provider_id:
            await apply_statuses(conn, provider_id)
        if status == "blocked" and lead["phone_hash"]:
            await suppress(conn, lead["phone_hash"], "all", "opt-out at the provider", "sms")
    if retry is not None:
        raise retry
    return status


async def _facts(
    conn: psycopg.AsyncConnection, message: dict, lead: dict, channels: Channels, now: datetime
) -> Facts:
    channel = message["channel"]
    contact_hash = lead["phone_hash"] if channel == "sms" else lead["email_hash"]
    start, end = day_bounds(lead, now)
    cur = await conn.execute(
        _FACTS_SQL,
        {"contact": contact_hash, "channel": channel, "lead": lead["lead_id"],
         "start": start, "end": end, "message": message["message_id"]},
    )  # fmt: skip
    row = await cur.fetchone()
    suppression, sent_today = row if row else (None, 0)
    return Facts(
        channel=channel,
        purpose=message["purpose"],
        lead=lead,
        run_status=message["run_status"],
        run_stop_reason=message["stop_reason"],
        suppression=suppression,
        sent_today=sent_today,
        channel_configured=(channels.sms if channel == "sms" else channels.email) is not None,
    )


async def _call_provider(
    message: dict, lead: dict, channels: Channels, *, attempt: int, max_attempts: int
) -> tuple[str, str | None, str | None, RetryLater | None]:
    """(status, reason, provider id, retry) after one provider call."""
    key = f"hk-message-{message['message_id']}"
    try:
        if message["channel"] == "sms":
            assert channels.sms is not None
            result = await asyncio.to_thread(
                channels.sms.send, lead["phone_e164"], message["body"], idempotency_key=key
            )
        else:
            assert channels.email is not None
            result = await asyncio.to_thread(
                channels.email.send,
                lead["email_normalized"],
                message["subject"] or "",
                message["body"],
                message_id=key,
                unsubscribe_url=channels.unsubscribe_url(message["message_id"]),
            )
    except PermanentSendError as exc:
        if exc.code == TWILIO_OPTED_OUT:
            return "blocked", f"the recipient opted out at the provider: {exc.reason}", None, None
        return "failed", f"refused by the provider: {exc.reason}", None, None
    except TransientSendError as exc:
        if attempt + 1 >= max_attempts:
            return "failed", f"gave up after {attempt + 1} attempts: {exc.reason}", None, None
        return (
            "queued",
            f"attempt {attempt + 1} failed: {exc.reason}",
            None,
            RetryLater(exc.reason, exc.retry_after),
        )
    return "sent", None, result.provider_id, None


async def _finish(
    conn: psycopg.AsyncConnection,
    message_id: int,
    status: str,
    reason: str | None,
    decisions: list[dict],
    *,
    provider_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """Record the outcome; ``sent_at`` is given for a provider attempt (counted in attempts)."""
    await conn.execute(
        "update app.messages set status = %s, status_reason = %s, "
        "decisions = decisions || %s::jsonb, provider_id = coalesce(%s, provider_id), "
        "attempts = attempts + %s, updated_at = now(), "
        "sent_at = case when %s = 'sent' then %s else sent_at end where message_id = %s",
        (status, reason, orjson.dumps(decisions).decode(), provider_id,
         int(sent_at is not None), status, sent_at, message_id),
    )  # fmt: skip


async def _defer(
    conn: psycopg.AsyncConnection, message_id: int, verdict: Verdict, decisions: list[dict]
) -> None:
    """Reschedule for later: a new job at ``send_at``; the current job ends without a retry."""
    await conn.execute(
        "update app.messages set status = 'deferred', status_reason = %s, send_after = %s, "
        "decisions = decisions || %s::jsonb, updated_at = now() where message_id = %s",
        (verdict.reason, verdict.send_at, orjson.dumps(decisions).decode(), message_id),
    )
    await defer(conn, SEND, verdict.send_at, message_id=message_id)
