"""The other triggers and the rules file: scores crossing, no contact, replies; start-up errors."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap

import httpx
import psycopg
import pytest
from ops_fixtures import HK, settings_from

from orchestrator import engine, scans
from orchestrator.channels import twilio_signature
from orchestrator.outbox import unsubscribe_token
from orchestrator.rules import DEFAULT_RULES_FILE, RulesError, RulesFile, load_rules
from serving.app import create_app
from serving.background import BackgroundServer

RULES = RulesFile.model_validate({"rules": [
    {"id": "hot", "trigger": {"type": "score_crossed", "threshold": 0.5},
     "steps": [{"type": "create_task", "task_kind": "research", "assignee": "researcher"}]},
    {"id": "cooled", "trigger": {"type": "score_crossed", "threshold": 0.5, "direction": "down"},
     "steps": [{"type": "create_task", "task_kind": "follow_up"}]},
    {"id": "quiet", "trigger": {"type": "no_contact", "days": 14},
     "steps": [{"type": "create_task", "task_kind": "follow_up"}]},
    {"id": "moved", "trigger": {"type": "stage_changed", "to_stage": "qualified"},
     "steps": [{"type": "move_stage", "stage": "appointment_set", "reason": "auto"}]},
]})  # fmt: skip


def _lead(db, n: int) -> int:
    return db.execute(
        "insert into app.leads (dedup_key, source, received_at, property_street, intake_channel) "
        "values (%s, 'test', now(), '1 Elm St', 'api') returning lead_id",
        (f"ext:t:{n}",),
    ).fetchone()[0]


def _run(url: str, coro_factory):
    async def go():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await coro_factory(conn)

    return asyncio.run(go())


def _tasks(db) -> list[tuple]:
    return db.execute("select kind, lead_id, created_by from app.tasks order by task_id").fetchall()


@pytest.fixture
def score_history(db):
    """ml.lead_score_history is not one of the emptied app tables: leave it as found."""
    yield
    db.execute("delete from ml.lead_score_history where model_name = 'm'")
    db.execute("delete from app.score_thresholds")


def test_nightly_and_online_scores_crossing_a_threshold_fire_once(database_url, db, score_history):
    a, b = _lead(db, 1), _lead(db, 2)
    _run(database_url, lambda c: scans.sync_thresholds(c, RULES))
    _run(database_url, lambda c: engine.dispatch(c, RULES))  # the lead_created events
    db.execute(
        "insert into ml.lead_score_history (lead_id, score, model_name, model_version, scored_at) "
        "values (%s, 0.7, 'm', '1', now()), (%s, 0.2, 'm', '1', now())",
        (a, b),
    )
    _run(database_url, lambda c: engine.dispatch(c, RULES))
    assert _tasks(db) == [("research", a, "automation:hot")]
    # The same side of the threshold again (nightly and online): nothing new.
    db.execute(
        "insert into ml.lead_score_history (lead_id, score, model_name, model_version, scored_at) "
        "values (%s, 0.8, 'm', '2', now() + interval '1 day')",
        (a,),
    )
    db.execute(
        "select app.mark_scores(array[%s, %s]::bigint[], array[0.75, 0.3], 'online')", (a, b)
    )
    _run(database_url, lambda c: engine.dispatch(c, RULES))
    assert len(_tasks(db)) == 1
    # Online: b crosses up, a crosses down.
    db.execute(
        "select app.mark_scores(array[%s, %s]::bigint[], array[0.4, 0.55], 'online')", (a, b)
    )
    _run(database_url, lambda c: engine.dispatch(c, RULES))
    assert sorted(_tasks(db)[1:]) == [
        ("follow_up", a, "automation:cooled"),
        ("research", b, "automation:hot"),
    ]


def test_no_contact_fires_once_per_quiet_spell_and_not_for_a_fresh_import(database_url, db):
    old, fresh = _lead(db, 3), _lead(db, 4)
    db.execute("update app.leads set ingested_at = now() - interval '15 days', "
               "received_at = now() - interval '400 days' where lead_id = %s", (old,))  # fmt: skip
    db.execute(
        "update app.leads set received_at = now() - interval '400 days' where lead_id = %s",
        (fresh,),
    )
    assert _run(database_url, lambda c: scans.no_contact_events(c, RULES)) == 1
    assert _run(database_url, lambda c: scans.no_contact_events(c, RULES)) == 0
    _run(database_url, lambda c: engine.dispatch(c, RULES))
    assert [t[:2] for t in _tasks(db)] == [("follow_up", old)]


def test_a_move_by_a_rule_is_a_stage_event_by_that_rule(database_url, db):
    from orchestrator.funnel import move_stage

    lead = _lead(db, 5)
    _run(database_url, lambda c: move_stage(c, lead, "contacted", actor="t"))
    _run(database_url, lambda c: move_stage(c, lead, "qualified", actor="t"))
    _run(database_url, lambda c: engine.dispatch(c, RULES))
    rows = db.execute("select stage, actor, reason from app.stage_events where lead_id = %s "
                      "order by occurred_at", (lead,)).fetchall()  # fmt: skip
    assert rows[-1] == ("appointment_set", "automation:moved", "auto")


def test_the_shipped_rules_file_loads():
    rules = load_rules(DEFAULT_RULES_FILE)
    assert rules.rule("speed_to_lead") is not None
    assert rules.rule("speed_to_lead").steps[0].type == "send_sms"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "{id: a, trigger: {type: lead_created}, steps: [{type: send_sms, template: '{{ lead.frist_name }}'}]}",
            "rule a: steps.0: template does not render: 'dict object' has no attribute 'frist_name'",
        ),
        (
            "{id: b, trigger: {type: lead_created}, steps: [{type: send_sms, template: '{% if %}'}]}",
            "rule b: steps.0: template does not render",
        ),
        (
            "{id: c, trigger: {type: lead_created}, steps: [{type: send_email, template: hi}]}",
            "rule c: steps.0: send_email needs subject",
        ),
        (
            "{id: d, trigger: {type: lead_created}, conditions: [{field: lead.shoe_size, equals: 9}], steps: [{type: wait, duration: 1d}]}",
            "rule d: conditions.0.field: unknown field 'lead.shoe_size'",
        ),
        (
            "{id: e, trigger: {type: stage_changed, to_stage: won}, steps: [{type: wait, duration: 1d}]}",
            "rule e: trigger.to_stage: unknown stage 'won'",
        ),
        (
            "{id: f, trigger: {type: lead_created}, steps: [{type: wait, duration: soon}]}",
            "rule f: steps.0: 'soon' is not a duration",
        ),
        (
            "{id: g, trigger: {type: score_crossed}, steps: [{type: wait, duration: 1d}]}",
            "rule g: trigger: score_crossed needs a threshold",
        ),
        (
            "{id: h, trigger: {type: lead_created}, steps: []}",
            "rule h: steps: List should have at least 1 item",
        ),
        (
            "{id: i, trigger: {type: lead_created}, steps: [{type: send_sms, template: x, colour: red}]}",
            "rule i: steps.0.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_field(tmp_path, rule, message):
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - {rule}\n")
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert message in str(raised.value)


def test_file_level_errors(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(path)
    path.write_text(
        textwrap.dedent("""
        quiet_hours: {default: "8pm"}
        rules:
          - {id: a, trigger: {type: lead_created}, steps: [{type: wait, duration: 1d}]}
          - {id: a, trigger: {type: lead_created}, steps: [{type: wait, duration: 1d}]}
    """)
    )
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert "used twice" in str(raised.value) or "quiet_hours" in str(raised.value)
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_hk_worker_refuses_a_bad_rules_file_at_start(tmp_path, database_url):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: a, trigger: {type: lead_created}, steps: [{type: fly}]}\n")
    env = {
        "HK_DATABASE_URL": database_url,
        "HK_AUTOMATIONS_FILE": str(path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([HK, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "rule a: steps.0.type" in done.stderr


def test_one_click_unsubscribe_and_signed_status_callbacks(database_url, db, ops):
    env, sms, smtp, _ = ops
    lead = db.execute(
        "insert into app.leads (dedup_key, source, received_at, property_street, email_hash, "
        "intake_channel) values ('ext:t:u', 'test', now(), '1 Elm St', 'ehash', 'api') returning lead_id"
    ).fetchone()[0]
    event = db.execute(
        "select event_id from app.automation_events where lead_id = %s", (lead,)
    ).fetchone()[0]
    message = db.execute(
        "insert into app.messages (lead_id, channel, rule_id, event_id, step, body, status, provider_id) "
        "values (%s, 'sms', 'r', %s, 0, 'x', 'sent', 'SM1') returning message_id",
        (lead, event),
    ).fetchone()[0]
    settings = settings_from(env)
    key = settings.pii_key.get_secret_value().encode()
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        token = unsubscribe_token(key, message)
        page = httpx.get(f"{base}/v1/unsubscribe/{token}")
        assert page.status_code == 200 and "List-Unsubscribe" in page.text
        assert (
            db.execute("select count(*) from app.suppressions").fetchone()[0] == 0
        )  # a GET never does
        forged = httpx.post(
            f"{base}/v1/unsubscribe/{message}.{'0' * 32}", data={"List-Unsubscribe": "One-Click"}
        )
        assert forged.status_code == 404
        done = httpx.post(f"{base}/v1/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert db.execute("select contact_hash, channel from app.suppressions").fetchall() == [
            ("ehash", "email")
        ]

        url = "http://127.0.0.1:1/v1/webhooks/sms/status"  # the public URL the settings name
        form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        unsigned = httpx.post(f"{base}/v1/webhooks/sms/status", data=form)
        assert unsigned.status_code == 401
        signed = httpx.post(f"{base}/v1/webhooks/sms/status", data=form,
                            headers={"X-Twilio-Signature": twilio_signature(url, form, sms.auth_token)})  # fmt: skip
        assert signed.status_code == 204
        assert (
            db.execute(
                "select status from app.messages where message_id = %s", (message,)
            ).fetchone()[0]
            == "delivered"
        )


def test_suppressions_import_names_bad_rows_and_keeps_good_ones(tmp_path, database_url, db):
    path = tmp_path / "dnc.csv"
    path.write_text(
        "phone,email,channel\n+15125550111,,\n,a@example.com,email\nnot a phone,,\n,,\n+15125550112,,fax\n"
    )
    env = {"HK_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [HK, "suppressions", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "row 4: phone: not a valid phone number" in done.stderr
    assert "row 5: neither phone nor email" in done.stderr and "row 6: channel" in done.stderr
    assert "2 added" in done.stdout
    assert db.execute("select count(*) from app.suppressions").fetchone()[0] == 2
    again = subprocess.run(
        [HK, "suppressions", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "0 added, 2 already listed" in again.stdout


def test_suppressions_over_the_api(database_url, db, client):
    first = client.post(
        "/v1/suppressions", json={"phone": "512-555-0123", "email": "a@example.com"}
    )
    assert first.status_code == 201 and first.json() == {"added": 2, "listed": 2}
    again = client.post("/v1/suppressions", json={"phone": "+1 512 555 0123", "channel": "all"})
    assert again.status_code == 200 and again.json()["added"] == 0
    bad = client.post("/v1/suppressions", json={"phone": "12"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "phone"]
    assert client.post("/v1/suppressions", json={"reason": "x"}).status_code == 422
    assert (
        client.post(
            "/v1/suppressions", json={"email": "a@example.com", "channel": "fax"}
        ).status_code
        == 422
    )


def test_an_unsubscribe_token_with_non_ascii_digits_is_not_ours():
    from orchestrator.outbox import read_unsubscribe_token

    assert read_unsubscribe_token(b"k", "\u00b2.abc") is None  # "²".isdigit() is true
    assert read_unsubscribe_token(b"k", "\u0661\u0662.abc") is None  # Arabic-Indic digits
