"""What comes back from sellers: inbound texts, opt-outs, unsubscribes, delivery receipts.

An inbound text is matched to every lead with that phone (by its keyed hash), stored once per
provider message id (a redelivered webhook changes nothing), and becomes a ``reply`` event for
each lead, which stops their running sequences and fires reply rules. An opt-out keyword
suppresses the phone and every matched lead's email ("every channel at once") and queues one
confirmation text, the only message that may still go to that phone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson
import psycopg

from hk_core.pii import PiiHasher
from orchestrator.channels import opt_in_keyword, opt_out_keyword
from orchestrator.queue import SEND, Deferrals

OPT_OUT_CONFIRMATION = (
    "You are unsubscribed from Hidden Key Investments and will receive no more messages. "
    "Reply START to resubscribe."
)
OPT_OUT_RULE = "_opt_out_confirmation"
# Status callbacks a provider posts, mapped onto the outbox's states.
PROVIDER_STATUSES = {
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "sent": "sent",
}


@dataclass(frozen=True)
class Inbound:
    inbound_id: int | None  # None: this provider message id was recorded before
    lead_ids: tuple[int, ...]
    keyword: str | None
    opted_out: bool  # a new opt-out (a second STOP confirms nothing again)


def contact_hash(
    hasher: PiiHasher, *, phone: str | None = None, email: str | None = None
) -> str | None:
    keys = hasher.contact_keys(email, phone)
    return keys.phone_hash if phone is not None else keys.email_hash


async def suppress(
    conn: psycopg.AsyncConnection, contact_hash: str, channel: str, reason: str, source: str
) -> bool:
    """Add a do-not-contact row; False when the contact was already suppressed there."""
    cur = await conn.execute(
        "insert into app.suppressions (contact_hash, channel, reason, source) values (%s, %s, %s, %s) "
        "on conflict (contact_hash, channel) do nothing",
        (contact_hash, channel, reason, source),
    )
    return cur.rowcount == 1


async def record_inbound(
    conn: psycopg.AsyncConnection,
    hasher: PiiHasher,
    *,
    provider_id: str,
    from_phone: str,
    body: str,
) -> Inbound:
    """Store an inbound text and act on it, in one transaction."""
    phone_hash = contact_hash(hasher, phone=from_phone)
    if phone_hash is None:
        raise ValueError("From: not a phone number")
    keyword = opt_out_keyword(body)
    async with conn.transaction():
        cur = await conn.execute(
            "select lead_id, email_hash from app.leads where phone_hash = %s order by lead_id",
            (phone_hash,),
        )
        leads = await cur.fetchall()
        lead_ids = [row[0] for row in leads]
        cur = await conn.execute(
            "insert into app.inbound_messages (provider_id, phone_hash, body, keyword, lead_ids) "
            "values (%s, %s, %s, %s, %s) on conflict (provider_id) do nothing returning inbound_id",
            (provider_id, phone_hash, body, keyword, lead_ids),
        )
        row = await cur.fetchone()
        if row is None:
            return Inbound(None, tuple(lead_ids), keyword, False)
        inbound_id = row[0]
        opted_out = False
        if keyword:
            opted_out = await suppress(
                conn, phone_hash, "all", f"opt-out by text ({keyword})", "sms"
            )
            for _, email_hash in leads:
                if email_hash:
                    await suppress(conn, email_hash, "all", f"opt-out by text ({keyword})", "sms")
        elif opt_in_keyword(body):
            await conn.execute(
                "delete from app.suppressions where contact_hash = %s and source = 'sms'",
                (phone_hash,),
            )
        kind = "opt_out" if keyword else "reply"
        payload = orjson.dumps({"inbound_id": inbound_id, "keyword": keyword}).decode()
        event_ids = []
        for lead_id in lead_ids:
            cur = await conn.execute(
                "insert into app.automation_events (lead_id, kind, payload) values (%s, %s, %s) "
                "returning event_id",
                (lead_id, kind, payload),
            )
            event_row = await cur.fetchone()
            assert event_row is not None
            event_ids.append(event_row[0])
        jobs = Deferrals()
        if lead_ids:
            jobs.add("automations.dispatch")
        if opted_out and lead_ids:
            cur = await conn.execute(
                "insert into app.messages (lead_id, channel, purpose, rule_id, event_id, step, body) "
                "values (%s, 'sms', 'compliance', %s, %s, 0, %s) returning message_id",
                (lead_ids[0], OPT_OUT_RULE, event_ids[0], OPT_OUT_CONFIRMATION),
            )
            message = await cur.fetchone()
            assert message is not None
            jobs.add(SEND, message_id=message[0])
        await jobs.flush(conn)
        return Inbound(inbound_id, tuple(lead_ids), keyword, opted_out)


async def lock_provider_id(conn: psycopg.AsyncConnection, provider_id: str) -> None:
    """Serialise recording a send and its delivery callbacks, until the transaction ends.

    Without it both can miss each other: the callback's update does not see the send's
    uncommitted provider id, and the send read the statuses before the callback committed, so
    a delivered text stayed "sent". Under the lock, whichever commits second sees the other.
    """
    digest = hashlib.blake2b(f"provider:{provider_id}".encode(), digest_size=8).digest()
    await conn.execute(
        "select pg_advisory_xact_lock(%s)", (int.from_bytes(digest, "big", signed=True),)
    )


async def record_status(conn: psycopg.AsyncConnection, provider_id: str, status: str) -> None:
    """Keep a delivery status callback and apply it to its message if that is recorded yet."""
    async with conn.transaction():
        await lock_provider_id(conn, provider_id)
        await conn.execute(
            "insert into app.provider_statuses (provider_id, status) values (%s, %s) "
            "on conflict do nothing",
            (provider_id, status.lower()[:32]),
        )
        await apply_statuses(conn, provider_id)


async def apply_statuses(conn: psycopg.AsyncConnection, provider_id: str) -> None:
    """Move a sent message to what its provider reported (delivered wins over a later 'sent')."""
    cur = await conn.execute(
        "select status from app.provider_statuses where provider_id = %s order by received_at",
        (provider_id,),
    )
    for (status,) in await cur.fetchall():
        mapped = PROVIDER_STATUSES.get(status)
        if mapped is None or mapped == "sent":
            continue
        decision = orjson.dumps([{"check": "provider_status", "outcome": mapped, "detail": status}])
        await conn.execute(
            "update app.messages set status = %s, decisions = decisions || %s::jsonb, "
            "status_reason = case when %s = 'failed' then %s else status_reason end, "
            "updated_at = now() where provider_id = %s and status in ('sent', 'delivered') "
            "and status <> %s",
            (mapped, decision.decode(), mapped, f"provider reported {status}", provider_id, mapped),
        )


async def unsubscribe_message(conn: psycopg.AsyncConnection, message_id: int) -> bool:
    """The email unsubscribe link (RFC 8058 one-click): suppress that lead's email address."""
    cur = await conn.execute(
        "select l.email_hash from app.messages as m join app.leads as l using (lead_id) "
        "where m.message_id = %s",
        (message_id,),
    )
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return False
    await suppress(conn, row[0], "email", "unsubscribed by email link", "email")
    return True
