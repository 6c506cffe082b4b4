"""Send-time compliance on a clock the test controls: quiet hours (across DST), caps, suppression.

The outbox's own code path runs in-process (``send_message`` with ``now``) against the real
database and the loopback SMS sink; only the clock is the test's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from hk_core.pii import PiiHasher
from hk_core.settings import get_settings
from orchestrator import engine, outbox
from orchestrator.channels import SmsSender
from orchestrator.replies import suppress
from orchestrator.rules import RulesFile
from orchestrator.sinks import SmsSink

CHICAGO = ZoneInfo("America/Chicago")
RULES = RulesFile.model_validate({
    "rules": [{"id": "welcome", "trigger": {"type": "lead_created"},
               "steps": [{"type": "send_sms", "template": "Hi {{ lead.first_name }}"}]}],
})  # fmt: skip


def _insert_lead(
    db, n: int, *, state="TX", zip_code="78702", phone="+15125550150", consent=True
) -> int:
    hasher = _hasher()
    keys = hasher.contact_keys(None, phone)
    row = db.execute(
        "insert into app.leads (dedup_key, source, received_at, first_name, phone, phone_e164, "
        "phone_hash, property_street, property_state, property_zip, consent_sms, intake_channel) "
        "values (%s, 'test', now(), 'Ana', %s, %s, %s, '1 Elm St', %s, %s, %s, 'api') returning lead_id",
        (f"ext:test:{n}", phone, keys.phone_e164, keys.phone_hash, state, zip_code, consent),
    ).fetchone()
    return row[0]


def _hasher() -> PiiHasher:
    return PiiHasher(get_settings().pii_key.get_secret_value())


@pytest.fixture
def sms():
    with SmsSink() as sink:
        yield sink


def _channels(sink: SmsSink) -> outbox.Channels:
    sender = SmsSender(sink.base_url, sink.account_sid, sink.auth_token, "+15125550100")
    return outbox.Channels(
        sms=sender, email=None, public_base_url="http://127.0.0.1", unsubscribe_key=b"k"
    )


async def _dispatch(url: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await engine.dispatch(conn, RULES)
        cur = await conn.execute("select message_id from app.messages order by message_id")
        return [row[0] for row in await cur.fetchall()]


async def _send(
    url: str, message_id: int, channels, now: datetime, rules: RulesFile = RULES
) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await outbox.send_message(
            conn, message_id, rules, channels, attempt=0, max_attempts=3, now=now
        )


def _local(year, month, day, hour, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


def _row(db, message_id: int):
    return db.execute(
        "select status, send_after, decisions from app.messages where message_id = %s",
        (message_id,),
    ).fetchone()


@pytest.mark.parametrize(
    ("evening", "morning"),
    [
        (_local(2026, 6, 10, 22, 30), _local(2026, 6, 11, 8)),  # an ordinary summer night
        (_local(2026, 3, 7, 22, 30), _local(2026, 3, 8, 8)),  # the night clocks spring forward
        (_local(2026, 10, 31, 22, 30), _local(2026, 11, 1, 8)),  # the night clocks fall back
    ],
)
def test_a_text_at_2230_local_goes_at_0800_local(database_url, db, sms, evening, morning):
    _insert_lead(db, 1)
    [message_id] = asyncio.run(_dispatch(database_url))
    channels = _channels(sms)
    assert asyncio.run(_send(database_url, message_id, channels, evening)) == "deferred"
    status, send_after, decisions = _row(db, message_id)
    assert status == "deferred" and send_after == morning
    assert send_after.astimezone(CHICAGO).hour == 8
    assert decisions[-1]["check"] == "quiet_hours" and decisions[-1]["outcome"] == "defer"
    assert "America/Chicago from the address" in decisions[-1]["detail"]
    # The deferral queued its own job for the morning (not a retry of this one).
    job = db.execute(
        "select scheduled_at, attempts from procrastinate_jobs where task_name = 'automations.send' "
        "and args ->> 'message_id' = %s order by id desc limit 1",
        (str(message_id),),
    ).fetchone()
    assert job == (morning, 0)
    assert sms.messages == []
    assert (
        asyncio.run(_send(database_url, message_id, channels, morning - timedelta(minutes=1)))
        == "deferred"
    )
    assert asyncio.run(_send(database_url, message_id, channels, morning)) == "sent"
    assert len(sms.messages) == 1
    assert (
        asyncio.run(_send(database_url, message_id, channels, morning)) == "sent"
    )  # a rerun sends nothing
    assert len(sms.messages) == 1


def test_the_dst_nights_differ_by_an_hour_in_utc():
    assert _local(2026, 3, 8, 8).hour - _local(2026, 3, 7, 8).hour == -1
    assert _local(2026, 11, 1, 8).hour - _local(2026, 10, 31, 8).hour == 1


def test_without_an_address_zone_the_phone_decides_and_several_zones_share_a_window(
    database_url, db, sms
):
    # No state: a 208 (Idaho) number spans Mountain and Pacific, so only their common hours.
    _insert_lead(db, 2, state=None, zip_code=None, phone="+12085550123")
    [message_id] = asyncio.run(_dispatch(database_url))
    at = datetime(2026, 6, 10, 14, 30, tzinfo=UTC)  # 08:30 Boise, 07:30 Los Angeles
    assert asyncio.run(_send(database_url, message_id, _channels(sms), at)) == "deferred"
    status, send_after, decisions = _row(db, message_id)
    assert send_after == datetime(2026, 6, 10, 15, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    assert "from the phone" in decisions[-1]["detail"]


def test_the_daily_cap_defers_the_fourth_text_to_the_next_local_day(database_url, db, sms):
    lead_id = _insert_lead(db, 3)
    for step in range(4):
        db.execute(
            "insert into app.messages (lead_id, channel, rule_id, event_id, step, body) "
            "select %s, 'sms', 'drip', event_id, %s, 'x' from app.automation_events limit 1",
            (lead_id, step),
        )
    ids = [
        r[0]
        for r in db.execute(
            "select message_id from app.messages where rule_id = 'drip' order by step"
        )
    ]
    noon = _local(2026, 6, 10, 12)
    channels = _channels(sms)
    assert [asyncio.run(_send(database_url, i, channels, noon)) for i in ids] == ["sent"] * 3 + [
        "deferred"
    ]
    status, send_after, decisions = _row(db, ids[3])
    assert send_after == _local(2026, 6, 11, 8)
    assert decisions[-1]["check"] == "cap"
    assert asyncio.run(_send(database_url, ids[3], channels, send_after)) == "sent"


def test_suppressed_and_unconsented_leads_are_blocked_with_the_reason(database_url, db, sms):
    _insert_lead(db, 4, phone="+15125550144")
    _insert_lead(db, 5, phone="+15125550155", consent=False)
    suppressed_hash = _hasher().contact_keys(None, "+15125550144").phone_hash

    async def add() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await suppress(conn, suppressed_hash, "sms", "internal do-not-contact", "test")

    asyncio.run(add())
    ids = asyncio.run(_dispatch(database_url))
    noon = _local(2026, 6, 10, 12)
    assert [asyncio.run(_send(database_url, i, _channels(sms), noon)) for i in ids] == [
        "blocked",
        "blocked",
    ]
    reasons = [
        r[0] for r in db.execute("select status_reason from app.messages order by message_id")
    ]
    assert reasons == [
        "suppression: internal do-not-contact",
        "consent: no consent (consent_sms is false)",
    ]
    assert sms.messages == []


def test_an_unconfigured_channel_blocks_with_the_setting_to_set(database_url, db):
    _insert_lead(db, 6)
    [message_id] = asyncio.run(_dispatch(database_url))
    none = outbox.Channels(sms=None, email=None, public_base_url="http://x", unsubscribe_key=b"k")
    assert asyncio.run(_send(database_url, message_id, none, _local(2026, 6, 10, 12))) == "blocked"
    assert _row(db, message_id)[2][-1]["detail"] == "the sms channel is not configured"


def test_a_number_opted_out_at_the_provider_is_blocked_and_suppressed(database_url, db, sms):
    _insert_lead(db, 7, phone="+15125550177")
    [message_id] = asyncio.run(_dispatch(database_url))
    sms.opted_out.add("+15125550177")
    assert (
        asyncio.run(_send(database_url, message_id, _channels(sms), _local(2026, 6, 10, 12)))
        == "blocked"
    )
    reason = db.execute("select status_reason from app.messages").fetchone()[0]
    assert reason.startswith("the recipient opted out at the provider") and "21610" in reason
    assert db.execute("select channel, reason from app.suppressions").fetchall() == [
        ("all", "opt-out at the provider")
    ]
