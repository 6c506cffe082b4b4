"""`hk demo`'s automations part on real parts: its own sinks, the API, an in-process worker.

What the worker decides depends on today's clock (quiet hours), so the expectations are read
from the same rules the worker applies, never from a fixed time of day.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from hk_cli.demo_automations import choose_places, run_automations
from hk_core.settings import get_settings
from orchestrator.rules import load_rules
from orchestrator.worker import run_until_idle


def _refused(url: str) -> bool:
    parts = urlsplit(url.split(" ", 1)[1])
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 0)) != 0


def _unconfigured():
    return get_settings().model_copy(
        update={"sms_account_sid": None, "sms_auth_token": None, "smtp_url": None}
    )


def test_the_demo_shows_sent_blocked_deferred_and_opted_out_then_stops_its_sinks(database_url, db):
    # A lead of the book: received long ago, consented; speed-to-lead must leave it alone.
    db.execute(
        "insert into app.leads (dedup_key, source, received_at, phone, phone_e164, phone_hash, "
        "email, email_normalized, email_hash, property_street, property_state, consent_sms, "
        "consent_email, intake_channel) values ('ext:list:OLD-1', 'list', now() - interval "
        "'10 days', '+15125550001', '+15125550001', 'h1', 'old@example.com', "
        "'old@example.com', 'e1', '1 Old Rd', 'TX', true, true, 'cli')"
    )
    open_place, quiet_place = choose_places(datetime.now(UTC), load_rules(None))
    report = run_automations(_unconfigured(), database_url)

    # Some hours of the UTC day no US clock is in quiet hours: that arrival is then skipped.
    expected = 6 if quiet_place is not None else 5
    assert report.dispatched >= expected and report.dispatched - report.matched == 1
    assert db.execute("select count(*) from app.messages where lead_id = 1").fetchone() == (0,)
    by_role = {a.role: a for a in report.arrivals}
    statuses = {
        role: {row[0]: row[1] for row in report.per_lead[a.lead_id] if row[2] == "marketing"}
        for role, a in by_role.items()
        if a.lead_id is not None
    }
    assert statuses["no consent"] == {"sms": "blocked", "email": "blocked"}
    assert statuses["same seller, 2nd form"] == {"sms": "blocked", "email": "blocked"}
    assert report.outcomes[("blocked: no consent", "sms")] == 1
    assert report.outcomes[("blocked: opt-out by text", "email")] == 1
    first = "deferred" if open_place is None else "sent"
    assert {s.replace("delivered", "sent") for s in statuses["consented"].values()} == {first}
    if quiet_place is None:
        assert "consented, quiet hours" not in statuses
    else:
        assert statuses["consented, quiet hours"] == {"sms": "deferred", "email": "deferred"}
    # The STOP confirmation goes whatever the hour; the sink got every text the outbox sent.
    assert report.opt_outs == 1
    assert report.outcomes[("sent: the opt-out confirmation", "sms")] == 1
    sent_texts = sum(
        n for (o, c), n in report.outcomes.items() if c == "sms" and o.startswith("sent")
    )
    assert report.texts_at_sink == sent_texts >= 1
    # The orchestrator's walk: research, the rule's draft, an edited approval, the one text.
    walk = report.tasks
    assert walk is not None and walk.note == "", walk and walk.note
    assert walk.brief and walk.proposed and walk.approved.endswith("Reply STOP to opt out.")
    assert walk.approved != walk.proposed and "(Steve, Hidden Key)" in walk.approved
    assert walk.message_status.replace("delivered", "sent").startswith(first)
    moves = [move for task_id, _, _, _, move, _ in walk.trail if task_id == walk.draft_id]
    assert "awaiting_approval → approved" in moves and "approved → done" in moves
    assert walk.audit_rows > len(walk.trail) - 1 and walk.audit_breaks == 0
    # Nothing left running: the sinks refuse connections, no worker is registered.
    assert all(_refused(channel.where) for channel in report.channels)
    assert db.execute("select count(*) from procrastinate_workers").fetchone() == (0,)


def test_the_worker_stops_at_once_when_there_is_nothing_to_do(database_url, db):
    started = time.monotonic()
    asyncio.run(run_until_idle(_unconfigured(), rules=load_rules(None)))
    assert time.monotonic() - started < 20
    assert db.execute("select count(*) from procrastinate_workers").fetchone() == (0,)


def test_a_callback_racing_its_send_is_applied_once_the_send_commits(database_url, db):
    """The sink posts "delivered" while the send that got the provider id has not committed:
    the callback must wait for it, not miss the message (it stayed "sent" before)."""
    import psycopg

    from orchestrator.outbox import _finish
    from orchestrator.replies import apply_statuses, lock_provider_id, record_status

    db.execute(
        "insert into app.leads (dedup_key, source, received_at, phone_e164, property_street, "
        "property_state, intake_channel) "
        "values ('ext:t:RACE', 't', now(), '+15125550111', '1 Elm St', 'TX', 'api')"
    )
    event_id = db.execute("select event_id from app.automation_events").fetchone()[0]
    message_id = db.execute(
        "insert into app.messages (lead_id, channel, rule_id, event_id, step, body) "
        "values (1, 'sms', 'r', %s, 0, 'hi') returning message_id",
        (event_id,),
    ).fetchone()[0]

    async def race() -> None:
        async with (
            await psycopg.AsyncConnection.connect(database_url) as send,
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as callback,
        ):
            async with send.transaction():  # send_message's order after the provider call
                await lock_provider_id(send, "SMrace")
                await _finish(send, message_id, "sent", None, [], provider_id="SMrace",
                              sent_at=datetime.now(UTC))  # fmt: skip
                await apply_statuses(send, "SMrace")
                posted = asyncio.create_task(record_status(callback, "SMrace", "delivered"))
                await asyncio.sleep(0.5)
                assert not posted.done()  # waiting for the send, not done without it
            await asyncio.wait_for(posted, 10)

    asyncio.run(race())
    assert db.execute(
        "select status from app.messages where message_id = %s", (message_id,)
    ).fetchone() == ("delivered",)
