"""Automations end to end: leads in by every path, `hk worker` processes, the SMS and SMTP sinks.

Counts are taken at the sinks (what a seller would receive), and the outbox and timeline are
checked for what operations would read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from helpers import wait_for
from ops_fixtures import FROM_NUMBER, messages, settings_from, settled

from hk_core.apikeys import create_api_key
from orchestrator.channels import twilio_signature
from serving.app import create_app
from serving.background import BackgroundServer

PHONE = "+15125550199"


def _lead(n: int, **extra) -> dict:
    lead = {
        "source": "web_form", "external_id": f"AUTO-{n}", "first_name": "Ana",
        "phone": f"+1512555{n:04d}", "email": f"seller{n}@example.com",
        "property_street": f"{n} Elm St", "property_city": "Austin", "property_state": "TX",
        "property_zip": "78702", "consent_sms": True, "consent_email": True,
        "received_at": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    lead.update(extra)
    return lead


@pytest.fixture
def api(ops, db):
    env, sms, smtp, worker = ops
    settings = settings_from(env)
    _, token = create_api_key(db, "automation tests")
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        settings_public = base
        with httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=30) as client:
            yield client, settings_public


def _texts_to(sms, phone: str) -> list[dict]:
    return [m for m in sms.messages if m["to"] == phone]


def test_a_consented_lead_by_api_bulk_and_sql_gets_one_text_and_one_email_each(ops, api, db):
    env, sms, smtp, worker = ops
    client, _ = api
    assert client.post("/v1/leads", json=_lead(1)).status_code == 201
    csv = (
        "external_id,source,first_name,phone,email,property_street,property_state,property_zip,"
        "consent_sms,consent_email,received_at\n"
        f"AUTO-2,list,Bo,+15125550002,seller2@example.com,2 Oak St,TX,78702,yes,yes,{datetime.now(UTC).isoformat()}\n"
    )
    bulk = client.post("/v1/leads/bulk", content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert bulk.status_code == 200, bulk.text
    # Any other path (a vendor webhook writes through the same insert): the trigger sees it.
    db.execute(
        "insert into app.leads (dedup_key, source, received_at, phone, phone_e164, phone_hash, "
        "email, email_normalized, email_hash, property_street, property_state, consent_sms, "
        "consent_email, intake_channel) values ('ext:vendor:V-3', 'vendor', now(), "
        "'+15125550003', '+15125550003', 'h3', 'seller3@example.com', 'seller3@example.com', "
        "'e3', '3 Ash St', 'TX', true, true, 'webhook')"
    )
    worker()
    assert settled(db, expected=6)
    for phone in ("+15125550001", "+15125550002", "+15125550003"):
        texts = _texts_to(sms, phone)
        assert len(texts) == 1, (phone, texts)
        assert texts[0]["from"] == FROM_NUMBER and "Reply STOP" in texts[0]["body"]
    assert sorted(r for e in smtp.messages for r in e.rcpt_tos) == [
        "seller1@example.com", "seller2@example.com", "seller3@example.com"
    ]  # fmt: skip
    email = smtp.messages[0].message
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/v1/unsubscribe/" in email["List-Unsubscribe"]
    # The follow-up after the wait step comes once too.
    assert wait_for(lambda: len(sms.messages) == 6, 60)
    assert settled(db, expected=9)
    assert len(sms.messages) == 6 and smtp.unique_count() == 3


def test_without_consent_nothing_is_sent_and_the_timeline_says_why(ops, api, db):
    env, sms, smtp, worker = ops
    client, _ = api
    lead_id = client.post(
        "/v1/leads", json=_lead(10, consent_sms=False, consent_email=False)
    ).json()["lead_id"]
    worker()
    assert settled(db, expected=2)
    assert sms.messages == [] and smtp.messages == []
    statuses = {(m[1], m[4], m[5]) for m in messages(db, lead_id)}
    assert statuses == {
        ("sms", "blocked", "consent: no consent (consent_sms is false)"),
        ("email", "blocked", "consent: no consent (consent_email is false)"),
    }
    entries = client.get(f"/v1/leads/{lead_id}/timeline").json()["entries"]
    blocked = [e for e in entries if e["kind"] == "message"]
    assert {e["status"] for e in blocked} == {"blocked"}
    assert all("no consent" in e["reason"] for e in blocked)
    assert all(e["decisions"][-1]["check"] == "consent" for e in blocked)


def _inbound(client, base: str, token: str, body: str, sid: str, phone: str):
    url = f"{base}/v1/webhooks/sms/inbound"
    form = {"MessageSid": sid, "From": phone, "To": FROM_NUMBER, "Body": body}
    signature = twilio_signature(url, form, token)
    return httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})


def test_stop_confirms_once_then_nothing_on_any_channel(ops, db, tmp_path):
    env, sms, smtp, worker = ops
    _, token = create_api_key(db, "stop test")

    def app_at(base: str):  # the signature covers the public URL: the API must know it
        return create_app(settings_from({**env, "HK_PUBLIC_BASE_URL": base}), migrate=False)

    with BackgroundServer(app_at) as base:
        client = httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=30)
        lead = _lead(20)
        lead_id = client.post("/v1/leads", json=lead).json()["lead_id"]
        worker(public=base)
        assert wait_for(lambda: len(_texts_to(sms, lead["phone"])) == 1, 60)
        bad = httpx.post(f"{base}/v1/webhooks/sms/inbound", data={"MessageSid": "SMx", "From": lead["phone"], "Body": "STOP"},
                         headers={"X-Twilio-Signature": "forged"})  # fmt: skip
        assert bad.status_code == 401
        for _attempt in range(2):  # the provider redelivers the same webhook
            answer = _inbound(client, base, sms.auth_token, "Stop.", "SMstop1", lead["phone"])
            assert answer.status_code == 200, answer.text
        assert (
            _inbound(client, base, sms.auth_token, "STOP", "SMstop2", lead["phone"]).status_code
            == 200
        )
        assert wait_for(lambda: len(_texts_to(sms, lead["phone"])) == 2, 60)
        confirmation = _texts_to(sms, lead["phone"])[-1]["body"]
        assert "unsubscribed" in confirmation
        # A new lead with the same phone and email, consented: nothing goes out on any channel.
        again = _lead(20, external_id="AUTO-20-again")
        client.post("/v1/leads", json=again)
        assert settled(db, expected=5)
        assert len(_texts_to(sms, lead["phone"])) == 2
        assert [e for e in smtp.messages if lead["email"] in e.rcpt_tos][1:] == []
        reasons = {m[5] for m in messages(db) if m[4] == "blocked"}
        assert any(r and r.startswith("suppression: opt-out by text (STOP)") for r in reasons), (
            reasons
        )
        # The running sequence of the first lead stopped: its follow-up never goes.
        run = db.execute(
            "select status from app.automation_runs where lead_id = %s and rule_id = 'welcome'",
            (lead_id,),
        )
        assert run.fetchone()[0] == "stopped"
        entries = client.get(f"/v1/leads/{lead_id}/timeline").json()["entries"]
        replies = [e for e in entries if e["kind"] == "reply"]
        assert [r["opt_out_keyword"] for r in replies] == ["STOP", "STOP"]
        client.close()


def test_the_worker_survives_losing_postgres_and_carries_on(ops, db, database_url):
    from helpers import TcpProxy, proxied_postgres_url
    from psycopg.conninfo import conninfo_to_dict

    env, sms, smtp, worker = ops
    proxy = TcpProxy.to_postgres(conninfo_to_dict(database_url)).start()
    try:
        env["HK_DATABASE_URL"] = proxied_postgres_url(database_url, proxy)
        running = worker()
        _insert(db, 30)
        assert wait_for(lambda: len(_texts_to(sms, "+15125550030")) == 1, 60)
        proxy.stop()  # every connection of the worker dies, and new ones are refused
        _insert(db, 31)  # committed while the worker cannot see the database
        assert not wait_for(lambda: running.process.poll() is not None, 8)  # still running
        proxy.start()
        _insert(db, 32)
        assert wait_for(lambda: len(_texts_to(sms, "+15125550031")) == 1, 120)
        assert wait_for(lambda: len(_texts_to(sms, "+15125550032")) == 1, 60)
        assert running.process.poll() is None
    finally:
        proxy.close()


def _insert(db, n: int) -> None:
    phone = f"+1512555{n:04d}"
    db.execute(
        "insert into app.leads (dedup_key, source, received_at, phone, phone_e164, phone_hash, "
        "property_street, property_state, consent_sms, intake_channel) "
        "values (%s, 'vendor', now(), %s, %s, %s, '3 Ash St', 'TX', true, 'webhook')",
        (f"ext:vendor:{n}", phone, phone, f"h{n}"),
    )
