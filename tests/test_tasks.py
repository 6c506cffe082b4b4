"""The orchestrator's core on real Postgres: the state machine, attempts, approvals, escalation,
execution and the audit chain, called directly (the worker, the API and chaos have their own files).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hk_core.settings import Settings
from orchestrator import engine
from orchestrator.assistants import CatalogError, load_catalog, parse_catalog
from orchestrator.audit import audit_key, verify
from orchestrator.rules import load_rules
from orchestrator.tasks import TRANSITIONS, Orchestrator, TaskError, orchestrator_for, payload_hash
from orchestrator.worker import check_rules_against


def _lead(db: psycopg.Connection, n: int = 1, **columns: Any) -> int:
    values = {
        "dedup_key": f"ext:t:{n}", "source": "test", "received_at": "now()",
        "first_name": "Ana", "property_street": f"{n} Elm St", "property_city": "Austin",
        "property_state": "TX", "property_zip": "78701", "asking_price": 250000,
        "mortgage_balance": 100000, "bedrooms": 3, "square_feet": 1500, "consent_sms": True,
        "phone_e164": f"+1512555{n:04d}", "intake_channel": "api",
    }  # fmt: skip
    values.update(columns)
    names = ", ".join(values)
    marks = ", ".join("now()" if v == "now()" else "%s" for v in values.values())
    params = [v for v in values.values() if v != "now()"]
    return db.execute(
        f"insert into app.leads ({names}) values ({marks}) returning lead_id", params
    ).fetchone()[0]


def _go(url: str, work: Callable[[psycopg.AsyncConnection], Awaitable[Any]]) -> Any:
    """``work(conn)`` in one committed transaction."""

    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            return await work(conn)

    return asyncio.run(go())


def _run_job(url: str, orch: Orchestrator, task_id: int, job_id: int | None = None) -> str:
    """One attempt, as the worker's job runs it (the queue job id is read when not given)."""

    async def go() -> str:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            if job_id is None:
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "select id from procrastinate_jobs where task_name = 'tasks.run' "
                        "and args->>'task_id' = %s order by id desc limit 1",
                        (str(task_id),),
                    )
                    row = await cur.fetchone()
                    assert row is not None
                    found = row[0]
            else:
                found = job_id
            try:
                return await orch.run(pool, task_id, found)
            finally:
                await orch.aclose()

    return asyncio.run(go())


def _task(db: psycopg.Connection, task_id: int) -> dict[str, Any]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("select * from app.tasks where task_id = %s", (task_id,)).fetchone()
        assert row is not None
        return row


@pytest.fixture
def orch(settings: Settings) -> Orchestrator:
    return orchestrator_for(settings)


def _create(url: str, orch: Orchestrator, kind: str, lead_id: int | None, **kw: Any) -> int:
    task_id, _ = _go(url, lambda c: orch.create(c, kind=kind, created_by="test", lead_id=lead_id,
                                                 **kw))  # fmt: skip
    return task_id


def test_the_transition_table_in_the_database_is_the_one_in_the_code(db):
    rows = db.execute("select from_state, to_state from app.task_transitions").fetchall()
    assert sorted(rows) == sorted((a, b) for a, nexts in TRANSITIONS.items() for b in nexts)


def test_the_database_refuses_an_illegal_transition_made_by_plain_sql(db, database_url, orch):
    task_id = _create(database_url, orch, "research", _lead(db))
    with pytest.raises(psycopg.errors.RaiseException, match="queued -> done is not a legal"):
        db.execute("update app.tasks set state = 'done' where task_id = %s", (task_id,))
    with pytest.raises(psycopg.errors.RaiseException, match="starts queued"):
        db.execute("insert into app.tasks (kind, state, created_by) values ('x', 'done', 't')")
    assert _task(db, task_id)["state"] == "queued"


def test_a_research_task_runs_once_to_done_with_a_validated_brief(db, database_url, orch):
    lead = _lead(db)
    task_id = _create(database_url, orch, "research", lead)
    assert db.execute("select count(*) from procrastinate_jobs where task_name = 'tasks.run' "
                      "and args->>'task_id' = %s", (str(task_id),)).fetchone()[0] == 1  # fmt: skip
    assert _run_job(database_url, orch, task_id) == "done"
    task = _task(db, task_id)
    assert task["assignee"] == "researcher" and task["attempts"] == 1
    assert "1 Elm St" in task["result"]["summary"] and task["result"]["equity"] == 150000
    # The job again (a retry, a reaped copy): nothing is called twice.
    assert _run_job(database_url, orch, task_id) == "done"
    calls = db.execute("select attempt, outcome from app.task_calls where task_id = %s",
                       (task_id,)).fetchall()  # fmt: skip
    assert calls == [(1, "ok")]
    # Prompt and answer are kept with the task.
    request = db.execute("select request from app.task_calls").fetchone()[0]
    assert request["context"]["lead"]["property_street"] == "1 Elm St"
    # "research done" is an automation event (a rule can draft outreach from it).
    event = db.execute("select kind, payload from app.automation_events where kind = 'task_done'")
    assert event.fetchone()[1] == {"task_id": task_id, "task_kind": "research",
                                   "assignee": "researcher"}  # fmt: skip


def test_a_lost_attempt_of_a_killed_worker_is_counted_and_the_next_one_runs(db, database_url, orch):
    task_id = _create(database_url, orch, "research", _lead(db))
    job = db.execute("select id from procrastinate_jobs where task_name = 'tasks.run'").fetchone()[
        0
    ]
    # As a worker killed during the call leaves it: running, claimed by the job.
    db.execute("update app.tasks set state = 'running', attempts = 1, claimed_by_job = %s "
               "where task_id = %s", (job, task_id))  # fmt: skip
    assert _run_job(database_url, orch, task_id, job) == "done"
    calls = db.execute("select attempt, outcome from app.task_calls where task_id = %s "
                       "order by attempt", (task_id,)).fetchall()  # fmt: skip
    assert calls == [(1, "lost"), (2, "ok")]
    # A job of another claim (a duplicate) leaves a running task alone.
    other = _create(database_url, orch, "research", _lead(db, 2))
    db.execute("update app.tasks set state = 'running', attempts = 1, claimed_by_job = -1 "
               "where task_id = %s", (other,))  # fmt: skip
    assert _run_job(database_url, orch, other, 12345) == "running"


def test_the_last_lost_attempt_escalates_to_steve_once(db, database_url, orch):
    task_id = _create(database_url, orch, "research", _lead(db))
    db.execute("update app.tasks set state = 'running', attempts = max_attempts, "
               "claimed_by_job = 7 where task_id = %s", (task_id,))  # fmt: skip
    assert _run_job(database_url, orch, task_id, 7) == "escalated"
    assert _run_job(database_url, orch, task_id, 7) == "escalated"
    escalations = db.execute(
        "select assignee, state, input->>'reason', parent_task_id from app.tasks "
        "where escalation_of = %s", (task_id,)).fetchall()  # fmt: skip
    assert len(escalations) == 1
    assignee, state, reason, parent = escalations[0]
    assert (assignee, state, parent) == ("steve", "awaiting_approval", task_id)
    assert "no attempt left" in reason


def _awaiting(db, database_url, orch, kind: str = "outreach_draft", n: int = 1) -> int:
    task_id = _create(database_url, orch, kind, _lead(db, n))
    assert _run_job(database_url, orch, task_id) == "awaiting_approval"
    return task_id


def test_approving_with_an_edit_sends_exactly_the_edited_text_once(db, database_url, orch):
    task_id = _awaiting(db, database_url, orch)
    proposal = _task(db, task_id)["result"]
    assert proposal["channel"] == "sms" and "STOP" in proposal["body"]
    edited = "Hi Ana, Steve from Hidden Key here about 1 Elm St. Reply STOP to opt out."
    patch = [{"op": "replace", "path": "/body", "value": edited}]
    _go(database_url, lambda c: orch.approve(c, task_id, actor="api-key:ops", patch=patch))
    task = _task(db, task_id)
    assert task["state"] == "approved" and task["approved_payload"]["body"] == edited
    assert task["approved_hash"] == payload_hash(task["approved_payload"])
    assert task["edit"]["before"]["body"] == proposal["body"]
    assert task["edit"]["patch"] == patch
    # A second decision is refused and changes nothing.
    with pytest.raises(TaskError) as second:
        _go(database_url, lambda c: orch.reject(c, task_id, actor="x", reason="no"))
    assert second.value.status == 409
    for _ in range(2):  # the execute job twice (a retry): one message
        assert _go(database_url, lambda c: orch.execute(c, task_id, actor="worker")) in (
            "done", "approved")  # fmt: skip
    messages = db.execute("select body, task_id, channel from app.messages").fetchall()
    assert messages == [(edited, task_id, "sms")]
    assert _task(db, task_id)["effect"]["message_id"] is not None
    sends = db.execute("select count(*) from procrastinate_jobs where task_name = "
                       "'automations.send'").fetchone()[0]  # fmt: skip
    assert sends == 1


def test_an_edit_that_breaks_the_rules_is_refused_and_the_task_keeps_waiting(
    db, database_url, orch
):
    task_id = _awaiting(db, database_url, orch)
    patch = [{"op": "replace", "path": "/body", "value": "Hi, call me."}]  # no STOP
    with pytest.raises(TaskError) as refused:
        _go(database_url, lambda c: orch.approve(c, task_id, actor="a", patch=patch))
    assert refused.value.status == 422 and str(refused.value).startswith("result:")
    with pytest.raises(TaskError, match="^patch:"):
        bad = [{"op": "replace", "path": "/nope/deeper", "value": 1}]
        _go(database_url, lambda c: orch.approve(c, task_id, actor="a", patch=bad))
    assert _task(db, task_id)["state"] == "awaiting_approval"


def test_a_payload_changed_after_approval_is_not_executed(db, database_url, orch):
    task_id = _awaiting(db, database_url, orch)
    _go(database_url, lambda c: orch.approve(c, task_id, actor="a"))
    db.execute("update app.tasks set approved_payload = jsonb_set(approved_payload, '{body}', "
               "'\"Sell now! STOP\"') where task_id = %s", (task_id,))  # fmt: skip
    assert _go(database_url, lambda c: orch.execute(c, task_id, actor="worker")) == "escalated"
    assert db.execute("select count(*) from app.messages").fetchone()[0] == 0
    reason = db.execute("select input->>'reason' from app.tasks where escalation_of = %s",
                        (task_id,)).fetchone()[0]  # fmt: skip
    assert "changed after approval" in reason


def test_an_approved_offer_moves_the_lead_to_offer_made(db, database_url, orch):
    lead = _lead(db)
    for stage in ("contacted", "qualified", "appointment_set"):
        db.execute("insert into app.stage_events (lead_id, stage, occurred_at, actor) "
                   "values (%s, %s, now(), 'test')", (lead, stage))  # fmt: skip
    task_id = _create(database_url, orch, "offer_prep", lead)
    assert _run_job(database_url, orch, task_id) == "awaiting_approval"
    offer = _task(db, task_id)["result"]
    assert offer["low"] <= offer["recommended"] <= offer["high"]
    _go(database_url, lambda c: orch.approve(c, task_id, actor="api-key:steve"))
    assert _go(database_url, lambda c: orch.execute(c, task_id, actor="worker")) == "done"
    stage, actor, reason = db.execute(
        "select stage, actor, reason from app.stage_events where lead_id = %s "
        "order by event_id desc limit 1", (lead,)).fetchone()  # fmt: skip
    assert (stage, actor) == ("offer_made", f"task:{task_id}")
    assert f"${offer['recommended']:,}" in reason


def test_an_expired_approval_escalates_once_and_steve_can_send_the_draft(db, database_url, orch):
    task_id = _awaiting(db, database_url, orch)
    assert not _go(database_url, lambda c: orch.expire(c, task_id, actor="worker"))  # not yet
    db.execute("alter table app.tasks disable trigger tasks_transition")
    db.execute("update app.tasks set approval_deadline = now() - interval '1 second' "
               "where task_id = %s", (task_id,))  # fmt: skip
    db.execute("alter table app.tasks enable trigger tasks_transition")
    assert _go(database_url, lambda c: orch.expire(c, task_id, actor="worker"))
    assert not _go(database_url, lambda c: orch.expire(c, task_id, actor="worker"))  # once
    assert _task(db, task_id)["state"] == "escalated"
    (escalation,) = db.execute("select task_id from app.tasks where escalation_of = %s",
                               (task_id,)).fetchone()  # fmt: skip
    # Steve approves the escalated draft: it is sent as the original would have been.
    _go(database_url, lambda c: orch.approve(c, escalation, actor="cli:steve"))
    assert _go(database_url, lambda c: orch.execute(c, escalation, actor="worker")) == "done"
    assert db.execute("select task_id from app.messages").fetchall() == [(escalation,)]


def test_cancel_reject_and_the_states_that_refuse_them(db, database_url, orch):
    queued = _create(database_url, orch, "research", _lead(db))
    _go(database_url, lambda c: orch.cancel(c, queued, actor="a"))
    assert _run_job(database_url, orch, queued) == "cancelled"  # its job finds nothing to do
    assert db.execute("select count(*) from app.task_calls").fetchone()[0] == 0
    with pytest.raises(TaskError) as again:
        _go(database_url, lambda c: orch.cancel(c, queued, actor="a"))
    assert again.value.status == 409
    waiting = _awaiting(db, database_url, orch, n=2)
    with pytest.raises(TaskError, match="^reason:"):
        _go(database_url, lambda c: orch.reject(c, waiting, actor="a", reason="  "))
    _go(database_url, lambda c: orch.reject(c, waiting, actor="a", reason="too pushy"))
    task = _task(db, waiting)
    assert (task["state"], task["decision_reason"]) == ("rejected", "too pushy")
    with pytest.raises(TaskError) as missing:
        _go(database_url, lambda c: orch.cancel(c, 999_999, actor="a"))
    assert missing.value.status == 404


def test_create_refuses_unknown_kinds_leads_and_assignees_by_field(db, database_url, orch):
    lead = _lead(db)
    for kw, field in (({"kind": "poetry"}, "kind"), ({"lead_id": 999_999}, "lead_id"),
                      ({"assignee": "nobody"}, "assignee"),
                      ({"assignee": "underwriter"}, "assignee")):  # fmt: skip
        args = {"kind": "research", "lead_id": lead, **kw}
        with pytest.raises(TaskError) as refused:
            _go(database_url, lambda c, a=args: orch.create(c, created_by="t", **a))
        assert refused.value.status == 422 and str(refused.value).startswith(f"{field}:")
    assert db.execute("select count(*) from app.tasks").fetchone()[0] == 0
    # The same dedup key twice: one task.
    first = _go(database_url, lambda c: orch.create(c, kind="research", created_by="t",
                                                     lead_id=lead, dedup_key="k"))  # fmt: skip
    second = _go(database_url, lambda c: orch.create(c, kind="research", created_by="t",
                                                      lead_id=lead, dedup_key="k"))  # fmt: skip
    assert first == (second[0], True) and second[1] is False
    # A task for a person waits for them at once; no job runs it.
    human, _ = _go(database_url, lambda c: orch.create(c, kind="follow_up", created_by="t",
                                                        lead_id=lead, human=True))  # fmt: skip
    task = _task(db, human)
    assert (task["assignee"], task["state"]) == ("steve", "awaiting_approval")


def test_the_audit_log_is_append_only_and_tampering_is_found(db, database_url, orch, settings):
    task_id = _awaiting(db, database_url, orch)
    _go(database_url, lambda c: orch.approve(c, task_id, actor="a", reason="fine"))
    _create(database_url, orch, "research", None)  # a lead-less task: its own chain
    key = audit_key(settings)
    with psycopg.connect(database_url) as conn:
        intact = verify(conn, key)
    assert intact.ok and intact.chains == 2 and intact.rows >= 6
    for statement in ("update app.task_audit set reason = 'x'", "delete from app.task_audit",
                      "truncate app.task_audit"):  # fmt: skip
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute(statement)
    rows = db.execute("select audit_id from app.task_audit where task_id = %s order by audit_id",
                      (task_id,)).fetchall()  # fmt: skip
    target = rows[2][0]
    db.execute("alter table app.task_audit disable trigger task_audit_append_only")
    db.execute("update app.task_audit set reason = 'edited' where audit_id = %s", (target,))
    with psycopg.connect(database_url) as conn:
        edited = verify(conn, key)
    assert [b.audit_id for b in edited.breaks or []] == [target]
    assert "edited" in (edited.breaks or [])[0].problem
    # A removed row: the row after it is named. A forged hash without the key does not help.
    db.execute("delete from app.task_audit where audit_id = %s", (target,))
    with psycopg.connect(database_url) as conn:
        removed = verify(conn, key)
    db.execute("alter table app.task_audit enable trigger task_audit_append_only")
    assert [b.audit_id for b in removed.breaks or []] == [rows[3][0]]
    assert "prev_hash" in (removed.breaks or [])[0].problem
    with psycopg.connect(database_url) as conn:
        assert not verify(conn, b"another key").ok


def test_automations_create_tasks_through_the_orchestrator(db, database_url, orch):
    rules = load_rules(None)
    check_rules_against(rules, load_catalog())  # the shipped files agree
    lead = _lead(db)
    research = _create(database_url, orch, "research", lead)
    _go(database_url, lambda c: engine.dispatch(c, rules))  # the lead_created events
    assert _run_job(database_url, orch, research) == "done"
    _go(database_url, lambda c: engine.dispatch(c, rules))  # task_done → draft_after_research
    drafts = db.execute("select kind, created_by, state from app.tasks where kind = "
                        "'outreach_draft'").fetchall()  # fmt: skip
    assert drafts == [("outreach_draft", "automation:draft_after_research", "queued")]


def test_the_assistants_file_names_every_problem(tmp_path):
    text = (
        "kinds: {research: {result: research_brief}, escalation: {}, odd: {result: nope}}\n"
        "assistants:\n"
        "  - {id: researcher, name: A, kinds: [research], prompt: '{{ broken'}\n"
        "  - {id: steve, name: S, human: true, kinds: [escalation]}\n"
    )
    with pytest.raises(CatalogError) as error:
        parse_catalog(text, "a.yaml")
    message = str(error.value)
    assert "kinds.odd.result" in message and "unknown result 'nope'" in message
    assert "assistants[researcher].prompt" in message
    with pytest.raises(CatalogError, match="exactly one assistant must be the human"):
        parse_catalog("kinds: {escalation: {}}\nassistants: []\n")
    shipped = load_catalog()
    assert len([a for a in shipped.assistants if not a.human]) == 5
    assert shipped.route("offer_prep").id == "underwriter"
    assert shipped.route("research", human=True).id == "steve"


def test_a_running_task_whose_job_is_gone_is_recovered_by_the_sweep(db, database_url, orch):
    task_id = _create(database_url, orch, "research", _lead(db))
    db.execute("delete from procrastinate_jobs")
    db.execute("update app.tasks set state = 'running', attempts = 1, claimed_by_job = 424242, "
               "started_at = now() - interval '5 minutes' where task_id = %s", (task_id,))  # fmt: skip
    fresh = _create(database_url, orch, "research", _lead(db, 2))  # queued: not stranded
    assert _go(database_url, lambda c: orch.stranded(c)) == [task_id]
    assert _go(database_url, lambda c: orch.recover(c, task_id, actor="worker:sweep")) == "retried"
    assert _run_job(database_url, orch, task_id) == "done"
    calls = db.execute("select attempt, outcome from app.task_calls where task_id = %s "
                       "order by attempt", (task_id,)).fetchall()  # fmt: skip
    assert calls == [(1, "lost"), (2, "ok")]
    assert _task(db, fresh)["state"] == "queued"
