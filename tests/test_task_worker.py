"""Tasks through real `hk worker` processes: an assistant's answer through the offline and the
HTTP adapter, a failing assistant retried then escalated, approvals that expire while workers
die, and an approved draft sent once.

The HTTP assistant is tests/llm_server.py on a real socket; texts are counted at the SMS sink.
Waits are deadlines, never timing assertions.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import wait_for
from llm_server import LlmServer, offline_answer
from task_fixtures import (
    NO_RULES,
    Tasks,
    audit_of,
    insert_leads,
    messages_in_flight,
    reaches,
    state_of,
    task_row,
    write_assistants,
)

from orchestrator.assistants import load_catalog
from orchestrator.audit import Auditor
from orchestrator.results import OutreachDraft, ResearchBrief
from orchestrator.tasks import EXECUTE, EXPIRE, TERMINAL, Orchestrator

MAX_ATTEMPTS = 3  # the shipped assistants file's default, which the test file keeps


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "automations.yaml"
    path.write_text(NO_RULES)
    return path


@pytest.fixture
def llm():
    with LlmServer(slow_seconds=3.0) as server:
        yield server


def _setup(ops, database_url, path: Path) -> tuple[dict, Tasks]:
    env, *_ = ops
    env["HK_ASSISTANTS_FILE"] = str(path)
    env["HK_SMS_STATUS_CALLBACKS"] = "false"  # no API to call back: only the sends matter
    return env, Tasks(env, database_url)


def _calls(db, task_id: int) -> list[tuple]:
    return db.execute(
        "select attempt, outcome, reason, adapter from app.task_calls where task_id = %s "
        "order by attempt",
        (task_id,),
    ).fetchall()


def _escalations(db, task_id: int) -> list[dict]:
    ids = db.execute(
        "select task_id from app.tasks where escalation_of = %s or "
        "(kind = 'escalation' and input->>'escalated_task' = %s::text)",
        (task_id, task_id),
    ).fetchall()
    return [task_row(db, i) for (i,) in ids]


def _drained(db, seconds: float = 60) -> bool:
    """True once no job is waiting or running (the periodic ones aside)."""

    def drained() -> bool:
        row = db.execute(
            "select count(*) from procrastinate_jobs where status in ('todo', 'doing') "
            "and task_name not in ('automations.reap', 'automations.scan', 'tasks.sweep') "
            "and (scheduled_at is null or scheduled_at <= now() + interval '5 minutes')"
        ).fetchone()
        return row is not None and row[0] == 0

    return wait_for(drained, seconds)


def _transitions(db, task_id: int) -> list[tuple[str | None, str | None]]:
    return [(f, t) for action, f, t, *_ in audit_of(db, task_id) if action == "transition"]


def test_research_through_the_offline_adapter_ends_done_with_a_valid_brief(
    ops, db, database_url, tmp_path
):
    env, tasks = _setup(ops, database_url, write_assistants(tmp_path / "assistants.yaml"))
    (lead,) = insert_leads(db, 1)
    task_id = tasks.create("research", lead)
    ops[3]()
    assert reaches(db, task_id, TERMINAL, 60), state_of(db, task_id)

    task = task_row(db, task_id)
    assert (task["state"], task["attempts"], task["assignee"]) == ("done", 1, "researcher")
    brief = ResearchBrief.model_validate(task["result"])
    assert brief.summary
    trail = audit_of(db, task_id)
    assert trail[0][:3] == ("created", None, "queued")
    assert [row[:3] for row in trail[1:]] == [
        ("transition", "queued", "running"),
        ("call", None, None),
        ("transition", "running", "done"),
    ]
    assert trail[2][4]["outcome"] == "ok" and trail[2][4]["adapter"] == "offline"
    assert _calls(db, task_id) == [(1, "ok", None, "offline")]
    assert tasks.verify(db).ok


def _http(llm: LlmServer) -> dict:
    return {"type": "openai", "base_url": llm.base_url, "model": "test-model",
            "timeout_seconds": 1}  # fmt: skip


def test_research_through_the_http_adapter_ends_done_with_the_servers_answer(
    ops, db, database_url, tmp_path, llm
):
    path = write_assistants(
        tmp_path / "assistants.yaml", researcher_adapter=_http(llm), timeout_seconds=1
    )
    env, tasks = _setup(ops, database_url, path)
    (lead,) = insert_leads(db, 1)
    task_id = tasks.create("research", lead)
    ops[3]()
    assert reaches(db, task_id, TERMINAL, 60), state_of(db, task_id)

    task = task_row(db, task_id)
    assert task["state"] == "done"
    assert llm.calls == 1
    (request,) = llm.requests
    assert request["model"] == "test-model"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["name"] == "ResearchBrief"
    assert request["response_format"]["json_schema"]["strict"] is True
    expected = ResearchBrief.model_validate(offline_answer(request)).model_dump(mode="json")
    assert task["result"] == expected
    assert _calls(db, task_id) == [(1, "ok", None, "openai")]
    assert tasks.verify(db).ok


def test_garbage_500s_and_timeouts_are_retried_then_escalated_to_steve_with_the_reason(
    ops, db, database_url, tmp_path, llm
):
    # More failures than attempts: the task must stop at MAX_ATTEMPTS, never loop.
    llm.script(["garbage", "500", "timeout", "500", "garbage", "500"])
    path = write_assistants(
        tmp_path / "assistants.yaml", researcher_adapter=_http(llm), timeout_seconds=1
    )
    env, tasks = _setup(ops, database_url, path)
    (lead,) = insert_leads(db, 1)
    task_id = tasks.create("research", lead)
    ops[3]()
    assert reaches(db, task_id, TERMINAL, 90), state_of(db, task_id)

    task = task_row(db, task_id)
    assert (task["state"], task["attempts"]) == ("escalated", MAX_ATTEMPTS)
    (escalation,) = _escalations(db, task_id)
    assert escalation["escalation_of"] == task_id
    assert (escalation["kind"], escalation["assignee"], escalation["state"]) == (
        "escalation", "steve", "awaiting_approval",
    )  # fmt: skip
    reason = escalation["input"]["reason"]
    assert reason.startswith("timeout") and "no attempt left" in reason, reason

    calls = _calls(db, task_id)
    assert [(attempt, outcome) for attempt, outcome, *_ in calls] == [
        (1, "invalid"),
        (2, "error"),
        (3, "error"),
    ]  # fmt: skip  (garbage is an invalid answer; a 500 and a timeout are errors)
    assert "not JSON" in calls[0][2] and "HTTP 500" in calls[1][2] and calls[2][2] == "timeout"
    trail = audit_of(db, task_id)
    assert [row[4]["attempt"] for row in trail if row[0] == "call"] == [1, 2, 3]
    assert _transitions(db, task_id) == [
        ("queued", "running"), ("running", "failed"), ("failed", "retried"),
        ("retried", "running"), ("running", "failed"), ("failed", "retried"),
        ("retried", "running"), ("running", "failed"), ("failed", "escalated"),
    ]  # fmt: skip
    # The backoff: exponential with jitter, in [ceiling / 2, ceiling] for base 0.2 s, max 1 s.
    waits = [float(re.search(r" in ([0-9.]+) s$", reason)[1])
             for action, _, to, reason, _ in audit_of(db, task_id) if to == "retried"]  # fmt: skip
    assert len(waits) == MAX_ATTEMPTS - 1
    assert 0.1 <= waits[0] <= 0.2 and 0.2 <= waits[1] <= 0.4, waits
    assert _drained(db)  # nothing is left that could call the server again
    assert llm.calls == MAX_ATTEMPTS
    assert tasks.verify(db).ok


def test_a_refused_key_escalates_after_one_call(ops, db, database_url, tmp_path, llm):
    llm.script(["401"])
    path = write_assistants(
        tmp_path / "assistants.yaml", researcher_adapter=_http(llm), timeout_seconds=1
    )
    env, tasks = _setup(ops, database_url, path)
    (lead,) = insert_leads(db, 1)
    task_id = tasks.create("research", lead)
    ops[3]()
    assert reaches(db, task_id, TERMINAL, 60), state_of(db, task_id)

    task = task_row(db, task_id)
    assert (task["state"], task["attempts"]) == ("escalated", 1)
    (escalation,) = _escalations(db, task_id)
    assert "HTTP 401" in escalation["input"]["reason"]
    assert "not retryable" in escalation["input"]["reason"]
    assert [outcome for _, outcome, *_ in _calls(db, task_id)] == ["error"]
    assert _drained(db)
    assert llm.calls == 1


DEADLINE = "3s"


def _draft_awaiting(db, tasks: Tasks, lead: int) -> tuple[int, float]:
    """An outreach draft a worker brought to awaiting_approval: (task id, seconds to deadline)."""
    task_id = tasks.create("outreach_draft", lead, input={"channel": "sms"})
    assert reaches(db, task_id, ("awaiting_approval",), 60), state_of(db, task_id)
    left = db.execute(
        "select extract(epoch from approval_deadline - now()) from app.tasks where task_id = %s",
        (task_id,),
    ).fetchone()[0]
    return task_id, float(left)


def _escalated_once(db, tasks: Tasks, task_id: int) -> None:
    assert reaches(db, task_id, ("escalated",), 100), state_of(db, task_id)
    # The expiry jobs still queued (the duplicates) run and find nothing to do.
    assert wait_for(
        lambda: (
            db.execute(
                "select count(*) from procrastinate_jobs where task_name = 'tasks.expire' "
                "and status in ('todo', 'doing')"
            ).fetchone()[0]
            == 0
        ),
        60,
    )
    (escalation,) = _escalations(db, task_id)
    assert escalation["escalation_of"] == task_id
    assert escalation["state"] == "awaiting_approval"
    assert escalation["input"]["reason"] == "approval not given in time"
    # The expired draft travels with the escalation, for Steve to send or drop.
    OutreachDraft.model_validate(escalation["input"]["proposal"])
    assert [t for t in _transitions(db, task_id) if t[0] == "awaiting_approval"] == [
        ("awaiting_approval", "expired")
    ]
    assert _transitions(db, task_id)[-1] == ("expired", "escalated")
    check = tasks.verify(db)
    assert check.ok, check.breaks


def test_a_worker_killed_at_the_deadline_leaves_one_escalation(ops, db, database_url, tmp_path):
    path = write_assistants(tmp_path / "assistants.yaml", deadlines={"outreach_draft": DEADLINE})
    env, tasks = _setup(ops, database_url, path)
    (lead,) = insert_leads(db, 1)
    first = ops[3]()
    task_id, left = _draft_awaiting(db, tasks, lead)
    # Two more expiry jobs at the deadline: a redelivered job must not escalate again.
    deadline = task_row(db, task_id)["approval_deadline"]
    tasks.defer(EXPIRE, task_id, at=deadline, copies=2)
    second = ops[3]()  # started now, so it is polling by the deadline
    # The first is killed just before its expiry job is due: the job is still 'todo', so a live
    # worker takes it at the deadline; the reaper's stall window only matters for 'doing' jobs.
    time.sleep(max(left - 0.2, 0))
    first.kill()
    time.sleep(0.4)  # the second dies just after the deadline, maybe inside an expiry job
    second.kill()
    doing = db.execute(
        "select count(*) from procrastinate_jobs where task_name = 'tasks.expire' "
        "and status = 'doing'"
    ).fetchone()[0]
    print(f"expiry jobs a killed worker held: {doing}")  # those come back through the reaper
    ops[3]()
    _escalated_once(db, tasks, task_id)


def test_two_workers_at_the_deadline_escalate_once(ops, db, database_url, tmp_path):
    path = write_assistants(tmp_path / "assistants.yaml", deadlines={"outreach_draft": DEADLINE})
    env, tasks = _setup(ops, database_url, path)
    (lead,) = insert_leads(db, 1)
    ops[3]()
    ops[3]()
    task_id, _ = _draft_awaiting(db, tasks, lead)
    deadline = task_row(db, task_id)["approval_deadline"]
    tasks.defer(EXPIRE, task_id, at=deadline, copies=6)  # both workers race for them
    _escalated_once(db, tasks, task_id)


def test_an_approved_edited_draft_is_sent_once_as_edited(ops, db, database_url, tmp_path):
    env, sms, _smtp, worker = ops
    env, tasks = _setup(ops, database_url, write_assistants(tmp_path / "assistants.yaml"))
    (lead,) = insert_leads(db, 1)
    worker()
    worker()
    task_id, _ = _draft_awaiting(db, tasks, lead)
    edited = "Hi Ana, Steve here about 0 Elm St: can we talk today? Reply STOP to opt out."
    tasks.approve(task_id, patch=[{"op": "replace", "path": "/body", "value": edited}])
    tasks.defer(EXECUTE, task_id, copies=3)  # duplicated deliveries of the execute job
    assert reaches(db, task_id, TERMINAL, 60), state_of(db, task_id)
    assert wait_for(
        lambda: messages_in_flight(db) == 0 and sms.count >= 1,
        60,
    )

    task = task_row(db, task_id)
    assert task["state"] == "done"
    assert task["approved_payload"]["body"] == edited
    assert task["edit"]["after"]["body"] == edited and task["edit"]["before"]["body"] != edited
    rows = db.execute(
        "select message_id, lead_id, channel, body, status from app.messages"
    ).fetchall()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [(lead, "sms", edited, "sent")]
    assert task["effect"]["message_id"] == rows[0][0]
    assert _drained(db)  # no execute or send job left that could send again
    assert Counter((m["to"], m["body"]) for m in sms.messages) == {("+15125550000", edited): 1}
    assert tasks.verify(db).ok


def test_the_backoff_grows_exponentially_with_jitter_up_to_its_ceiling(tmp_path):
    catalog = load_catalog(write_assistants(tmp_path / "assistants.yaml"))
    orchestrator = Orchestrator(catalog=catalog, auditor=Auditor(b"key"))
    for attempts, ceiling in ((1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0)):
        waits = [orchestrator.backoff(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (attempts, min(waits))
        assert len(set(waits)) > 100  # jittered, not one fixed pause
    assert orchestrator.backoff(1, retry_after=7.0) == 7.0  # a provider's Retry-After wins
