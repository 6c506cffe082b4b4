"""Automation runs: pending events → matching rules → runs → steps → outbox rows and jobs.

``dispatch`` takes pending events (``for update skip locked``: any number of workers share them),
stops the running sequences of a lead that replied or opted out, starts one run per (rule, event)
and advances each run through its steps until a wait. A send step writes an outbox row whose
unique key is (rule, lead, event, step) and defers its send job in the same transaction, so a
retried dispatch or step job finds the row and sends nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator.funnel import StageError, move_stage
from orchestrator.queue import SEND, STEP, Deferrals
from orchestrator.rules import LEAD_FIELDS, Rule, RulesFile, Step
from orchestrator.tasks import TaskError, default_orchestrator

log = logging.getLogger(__name__)

DISPATCH_BATCH = 500
# Inbound events stop every running sequence of the lead before any rule reacts to them.
STOPPING_EVENTS = ("reply", "opt_out")

LEAD_SQL = f"""
select {", ".join(f"l.{name}" for name in LEAD_FIELDS)},
    l.phone_e164, l.email_normalized, l.phone_hash, l.email_hash,
    extract(epoch from (now() - l.received_at)) / 3600.0 as age_hours,
    coalesce((
        select s.stage from app.stage_events as s where s.lead_id = l.lead_id
        order by s.occurred_at desc, s.event_id desc limit 1
    ), 'new') as stage
from app.leads as l
"""
_PENDING_SQL = """
select event_id, lead_id, kind, payload
from app.automation_events
where dispatched_at is null
order by event_id
limit %s
for update skip locked
"""


@dataclass
class Outcome:
    events: int = 0
    runs: int = 0
    messages: int = 0
    stopped: int = 0


def condition_values(lead: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    values = {f"lead.{name}": value for name, value in lead.items()}
    values.update({f"event.{name}": value for name, value in payload.items()})
    return values


async def load_leads(conn: psycopg.AsyncConnection, lead_ids: list[int]) -> dict[int, dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(LEAD_SQL + " where l.lead_id = any(%s)", (lead_ids,))
        return {row["lead_id"]: row for row in await cur.fetchall()}


async def dispatch(
    conn: psycopg.AsyncConnection, rules: RulesFile, *, batch: int = DISPATCH_BATCH
) -> Outcome:
    """Dispatch pending events until none is left; each batch is its own transaction."""
    total = Outcome()
    while True:
        async with conn.transaction():
            cur = await conn.execute(_PENDING_SQL, (batch,))
            events = await cur.fetchall()
            if not events:
                return total
            jobs = Deferrals()
            await _dispatch_batch(conn, rules, events, jobs, total)
            await jobs.flush(conn)
            await conn.execute(
                "update app.automation_events set dispatched_at = now() where event_id = any(%s)",
                ([event[0] for event in events],),
            )
        total.events += len(events)


async def _dispatch_batch(
    conn: psycopg.AsyncConnection, rules: RulesFile, events: list, jobs: Deferrals, total: Outcome
) -> None:
    leads = await load_leads(conn, sorted({event[1] for event in events}))
    stopping = sorted({event[1] for event in events if event[2] in STOPPING_EVENTS})
    if stopping:
        cur = await conn.execute(
            "update app.automation_runs set status = 'stopped', updated_at = now(), "
            "stop_reason = 'the seller replied or opted out' "
            "where lead_id = any(%s) and status = 'running'",
            (stopping,),
        )
        total.stopped += cur.rowcount
    for event_id, lead_id, kind, payload in events:
        lead = leads.get(lead_id)
        if lead is None:
            continue
        for rule in rules.matching(kind, condition_values(lead, payload)):
            cur = await conn.execute(
                "insert into app.automation_runs (rule_id, lead_id, event_id) values (%s, %s, %s) "
                "on conflict (rule_id, event_id) do nothing returning run_id",
                (rule.id, lead_id, event_id),
            )
            row = await cur.fetchone()
            if row is None:
                continue  # an earlier attempt of this dispatch already started it
            total.runs += 1
            total.messages += await advance(conn, rule, row[0], 0, lead, event_id, jobs)


async def advance(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    run_id: int,
    start: int,
    lead: dict[str, Any],
    event_id: int,
    jobs: Deferrals,
) -> int:
    """Run ``rule``'s steps from ``start`` until a wait or the end; returns messages queued."""
    queued = 0
    for index in range(start, len(rule.steps)):
        step = rule.steps[index]
        if step.type == "wait":
            at = datetime.now(UTC) + step.wait
            await _set_run(conn, run_id, "running", index + 1)
            jobs.add(STEP, at, run_id=run_id, step=index + 1)
            return queued
        if step.channel:
            queued += await _queue_message(conn, rule, step, index, run_id, lead, event_id, jobs)
        elif step.type == "move_stage":
            await _move(conn, rule, step, lead)
        elif step.type == "create_task":
            await create_task(conn, rule, step, index, lead, event_id, jobs)
    await _set_run(conn, run_id, "completed", len(rule.steps))
    return queued


async def _set_run(conn: psycopg.AsyncConnection, run_id: int, status: str, next_step: int) -> None:
    await conn.execute(
        "update app.automation_runs set status = %s, next_step = %s, updated_at = now() "
        "where run_id = %s",
        (status, next_step, run_id),
    )


async def _queue_message(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    step: Step,
    index: int,
    run_id: int,
    lead: dict[str, Any],
    event_id: int,
    jobs: Deferrals,
) -> int:
    subject = step.render("subject", lead) if step.subject else None
    body = step.render("template", lead)
    cur = await conn.execute(
        "insert into app.messages "
        "(lead_id, channel, rule_id, event_id, step, run_id, subject, body) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (rule_id, lead_id, event_id, step) do nothing returning message_id",
        (lead["lead_id"], step.channel, rule.id, event_id, index, run_id, subject, body),
    )
    row = await cur.fetchone()
    if row is None:
        return 0
    jobs.add(SEND, message_id=row[0])
    return 1


async def _move(conn: psycopg.AsyncConnection, rule: Rule, step: Step, lead: dict) -> None:
    assert step.stage is not None
    try:
        async with conn.transaction():  # a savepoint: a refused move leaves the run going
            await move_stage(
                conn, lead["lead_id"], step.stage, actor=f"automation:{rule.id}", reason=step.reason
            )
    except StageError as exc:
        log.info("rule %s: move of lead %s refused: %s", rule.id, lead["lead_id"], exc)


async def create_task(
    conn: psycopg.AsyncConnection,
    rule: Rule,
    step: Step,
    index: int,
    lead: dict,
    event_id: int,
    jobs: Deferrals,
) -> None:
    """Ask for an assistant task through the orchestrator; once per (rule, event, step)."""
    assert step.task_kind is not None
    try:
        async with conn.transaction():  # a savepoint: a refused task leaves the run going
            await default_orchestrator().create(
                conn, kind=step.task_kind, created_by=f"automation:{rule.id}",
                lead_id=lead["lead_id"], assignee=step.assignee,
                input={"rule": rule.id, "event_id": event_id},
                dedup_key=f"rule:{rule.id}:{event_id}:{index}", jobs=jobs,
            )  # fmt: skip
    except TaskError as exc:
        log.warning("rule %s: task for lead %s refused: %s", rule.id, lead["lead_id"], exc)


async def run_step(conn: psycopg.AsyncConnection, rules: RulesFile, run_id: int, step: int) -> int:
    """The job after a wait: continue the run at ``step`` unless it stopped or moved on."""
    async with conn.transaction():
        cur = await conn.execute(
            "select rule_id, lead_id, event_id, status, next_step from app.automation_runs "
            "where run_id = %s for update",
            (run_id,),
        )
        row = await cur.fetchone()
        if row is None or row[3] != "running" or row[4] != step:
            return 0
        rule = rules.rule(row[0])
        if rule is None or not rule.enabled or step >= len(rule.steps):
            await conn.execute(
                "update app.automation_runs set status = 'stopped', updated_at = now(), "
                "stop_reason = 'the rule was removed or disabled' where run_id = %s",
                (run_id,),
            )
            return 0
        leads = await load_leads(conn, [row[1]])
        if row[1] not in leads:
            return 0
        jobs = Deferrals()
        queued = await advance(conn, rule, run_id, step, leads[row[1]], row[2], jobs)
        await jobs.flush(conn)
        return queued
