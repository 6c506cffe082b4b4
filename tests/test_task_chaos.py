"""Tasks under failure: research, outreach drafts and offers through the offline adapter while
two `hk worker` processes are SIGKILLed at random and started again; the test approves drafts
and offers as they arrive (editing some texts), as Steve would.

At the end every task has its final state, no assistant was called for a task after it finished
and none answered twice, every approved text is one message and one text at the SMS sink, every
approved offer one stage move, and the audit chains verify. A killed worker's running jobs come
back through the reaper alone (after ``STALLED_AFTER_SECONDS`` without a heartbeat), so the
kills come early in the run and the waits are deadlines, never timing assertions.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import wait_for
from ops_fixtures import Worker
from task_fixtures import NO_RULES, Tasks, insert_leads, messages_in_flight, write_assistants

from orchestrator.tasks import TERMINAL

KINDS = ("research", "outreach_draft", "offer_prep")
KILLS = 3
BATCHES = 12
# Printed: the same seed replays the task mix, the edits and the kill moments.
SEED = random.randrange(1_000_000)


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "automations.yaml"
    path.write_text(NO_RULES)
    return path


def _edited(task_id: int) -> str:
    return f"Hi Ana, Steve at Hidden Key here (ref {task_id}). Reply STOP to opt out."


def _approve_arrivals(db, tasks: Tasks, chance: random.Random, edits: dict[int, str]) -> int:
    """Approve every draft and offer waiting now, editing about a third of the texts."""
    waiting = db.execute(
        "select task_id, kind from app.tasks where state = 'awaiting_approval' "
        "and kind <> 'escalation' order by task_id"
    ).fetchall()
    decisions = []
    for task_id, kind in waiting:
        patch = None
        if kind == "outreach_draft" and chance.random() < 1 / 3:
            edits[task_id] = _edited(task_id)
            patch = [{"op": "replace", "path": "/body", "value": edits[task_id]}]
        decisions.append((task_id, patch))
    tasks.approve_many(decisions)
    return len(decisions)


def _registered(db, start) -> tuple[Worker, int]:
    """Start a worker and wait for its row in procrastinate_workers: (worker, its id there)."""
    known = db.execute("select coalesce(max(id), 0) from procrastinate_workers").fetchone()[0]
    started = start()
    found: list[int] = []

    def registered() -> bool:
        row = db.execute("select max(id) from procrastinate_workers where id > %s", (known,))
        found[:] = [value for value in row.fetchone() if value is not None]
        return bool(found)

    assert wait_for(registered, 60), "the worker never registered"
    return started, found[0]


def _running_jobs(db, worker_id: int) -> set[int]:
    cur = db.execute(
        "select id from procrastinate_jobs where status = 'doing' and worker_id = %s",
        (worker_id,),
    )
    return {job_id for (job_id,) in cur.fetchall()}


def _busiest(db, workers: list[tuple[Worker, int]], chance: random.Random) -> int:
    """The worker to kill: one in the middle of a job when there is one (so the reaper and the
    lost-attempt path are exercised), else a random one."""
    for _ in range(40):
        busy = [i for i, (_, worker_id) in enumerate(workers) if _running_jobs(db, worker_id)]
        if busy:
            return chance.choice(busy)
        time.sleep(0.05)
    return chance.randrange(len(workers))


def _open(db) -> int:
    return db.execute(
        "select count(*) from app.tasks where kind <> 'escalation' and not state = any(%s)",
        (list(TERMINAL),),
    ).fetchone()[0]


def _chaos(ops, db, database_url, tmp_path, count: int) -> None:
    env, sms, _smtp, worker = ops
    env["HK_ASSISTANTS_FILE"] = str(write_assistants(tmp_path / "assistants.yaml"))
    env["HK_SMS_STATUS_CALLBACKS"] = "false"  # no API to call back: only the sends matter
    print(f"task chaos seed {SEED}")
    chance = random.Random(SEED)
    tasks = Tasks(env, database_url)
    leads = insert_leads(db, count)
    mix = [(chance.choice(KINDS), lead) for lead in leads]
    size = -(-count // BATCHES)
    batches = [mix[start : start + size] for start in range(0, count, size)]
    # The kills come while the first half of the batches arrive: the reaper's stall window runs
    # after the last one, not after the whole stream.
    kill_after = sorted(chance.sample(range(1, max(KILLS + 1, len(batches) // 2)), KILLS))
    workers = [_registered(db, worker), _registered(db, worker)]
    started = [process for process, _ in workers]
    edits: dict[int, str] = {}
    approved = 0
    orphaned: set[int] = set()  # jobs a killed worker was running
    for index, batch in enumerate(batches):
        tasks.create_many(batch)
        time.sleep(chance.uniform(0.1, 0.5))
        approved += _approve_arrivals(db, tasks, chance, edits)
        if index in kill_after:
            victim = _busiest(db, workers, chance)
            process, worker_id = workers[victim]
            process.kill()
            orphaned |= _running_jobs(db, worker_id)
            workers[victim] = _registered(db, worker)
            started.append(workers[victim][0])

    def settled() -> bool:
        nonlocal approved
        approved += _approve_arrivals(db, tasks, chance, edits)
        return _open(db) == 0

    assert wait_for(settled, 150), db.execute(
        "select kind, state, count(*) from app.tasks group by kind, state order by 1, 2"
    ).fetchall()
    assert wait_for(
        lambda: messages_in_flight(db) == 0,
        60,
    )
    logs = "".join(w.log.read_text() for w in started)
    reaped = dict(re.findall(r"job (\d+) \((\S+)\) of a dead worker", logs))
    lost = db.execute("select count(*) from app.task_calls where outcome = 'lost'").fetchone()[0]
    print(f"{approved} approvals, {len(edits)} edited; jobs running in killed workers "
          f"{len(orphaned)}, reaped {Counter(reaped.values())}; lost attempts {lost}")  # fmt: skip
    assert orphaned <= {int(job) for job in reaped}, "a killed worker's job was never put back"

    states = dict(db.execute(
        "select state, count(*) from app.tasks where kind <> 'escalation' group by state"
    ).fetchall())  # fmt: skip
    assert sum(states.values()) == count and set(states) <= set(TERMINAL), states
    # Only an attempt lost with its worker may escalate here; its escalation waits for Steve.
    escalated = db.execute(
        "select t.task_id, t.error, e.state from app.tasks as t "
        "left join app.tasks as e on e.escalation_of = t.task_id where t.state = 'escalated'"
    ).fetchall()
    assert all(state == "awaiting_approval" for _, _, state in escalated), escalated
    assert all("lost" in (error or "") for _, error, _ in escalated), escalated

    # No assistant call for a task after it finished; at most one answer per task, exactly one
    # for a task that is done (lost or discarded attempts before completion are allowed).
    late = db.execute(
        "select c.task_id, c.attempt, c.outcome from app.task_calls as c "
        "join app.tasks as t using (task_id) where c.started_at > t.finished_at"
    ).fetchall()
    assert late == []
    answers = db.execute(
        "select t.task_id, t.state, count(c.call_id) filter (where c.outcome = 'ok') "
        "from app.tasks as t left join app.task_calls as c using (task_id) "
        "where t.kind <> 'escalation' group by t.task_id, t.state"
    ).fetchall()
    assert [row for row in answers if row[2] > 1] == []
    assert [row for row in answers if row[1] == "done" and row[2] != 1] == []

    # No side effect twice: one message per executed draft, one text per message, as approved.
    sent = db.execute(
        "select t.task_id, m.message_id, m.body, m.status, l.phone_e164, "
        "t.approved_payload->>'body' from app.tasks as t "
        "join app.messages as m on m.task_id = t.task_id join app.leads as l on l.lead_id = m.lead_id "
        "where t.kind = 'outreach_draft'"
    ).fetchall()
    drafts_done = db.execute(
        "select count(*) from app.tasks where kind = 'outreach_draft' and state = 'done'"
    ).fetchone()[0]
    assert len(sent) == drafts_done == len({row[0] for row in sent})
    assert db.execute("select count(*) from app.messages").fetchone()[0] == drafts_done
    assert [row for row in sent if row[2] != row[5] or row[3] != "sent"] == []
    assert {row[0]: row[2] for row in sent if row[0] in edits} == {
        task_id: body for task_id, body in edits.items() if any(r[0] == task_id for r in sent)
    }
    texts = Counter((m["to"], m["body"]) for m in sms.messages)
    assert texts == Counter((row[4], row[2]) for row in sent)
    assert max(texts.values(), default=1) == 1
    moves = db.execute(
        "select actor, count(*) from app.stage_events where actor like 'task:%%' group by actor"
    ).fetchall()
    assert [row for row in moves if row[1] > 1] == []

    check = tasks.verify(db)
    assert check.ok, check.breaks[:5]


def test_tasks_through_killed_workers_finish_once_each(ops, db, database_url, tmp_path):
    _chaos(ops, db, database_url, tmp_path, count=300)


@pytest.mark.slow
def test_a_thousand_tasks_through_killed_workers_finish_once_each(ops, db, database_url, tmp_path):
    _chaos(ops, db, database_url, tmp_path, count=1000)
