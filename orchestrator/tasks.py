"""Tasks for the assistants and Steve: creation, the state machine, attempts, approvals, escalation.

States (docs/orchestrator.md)::

    queued -> running -> awaiting_approval -> approved -> done
                      -> done                          -> failed -> escalated (hash mismatch)
                      -> failed -> retried -> running ...
                                -> escalated           (attempts used up, or not retryable)
    awaiting_approval -> rejected | expired -> escalated | cancelled
    queued | retried | running -> cancelled

Every state change goes through ``_move``: one conditional UPDATE (``where state = <expected>``)
that the database trigger ``app.check_task_transition`` also checks against
``app.task_transitions``, plus its audit row, in the caller's transaction. Two racing decisions
therefore give one transition; the loser sees zero rows and gets a 409.

An attempt is claimed in one transaction (``running``, ``attempts + 1``, the queue job's id),
the assistant is called outside any transaction, and the outcome is recorded in a second one
that re-checks the claim. A worker killed during the call leaves the claim; procrastinate's
reaper gives the same job to another worker, which finds its own job id on the task, records the
attempt as lost and starts the next. A task whose outcome is committed is never called again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import jsonpatch
import orjson
import psycopg
from jinja2 import TemplateError
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError

from hk_core.settings import Settings, get_settings
from orchestrator import deals
from orchestrator.adapters import (
    Adapter,
    AdapterAnswer,
    AdapterCall,
    AdapterError,
    build_adapter,
    summarise_errors,
)
from orchestrator.assistants import ESCALATION, Assistant, Catalog, default_catalog
from orchestrator.audit import Auditor, audit_key
from orchestrator.context import lead_context
from orchestrator.funnel import StageError, move_stage
from orchestrator.queue import SEND, Deferrals

log = logging.getLogger(__name__)

RUN = "tasks.run"
EXPIRE = "tasks.expire"
EXECUTE = "tasks.execute"

STATES = (
    "queued", "running", "awaiting_approval", "approved", "done", "rejected", "failed",
    "retried", "escalated", "expired", "cancelled",
)  # fmt: skip
TERMINAL = ("done", "rejected", "escalated", "cancelled")
# The same set as app.task_transitions (hk_core/migrations/0008), which enforces it.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "awaiting_approval", "cancelled"),
    "running": ("awaiting_approval", "done", "failed", "cancelled"),
    "failed": ("retried", "escalated"),
    "retried": ("running", "cancelled"),
    "awaiting_approval": ("approved", "rejected", "expired", "cancelled"),
    "expired": ("escalated",),
    "approved": ("done", "failed"),
}
CANCELLABLE = ("queued", "retried", "running", "awaiting_approval")
# The slack over an assistant's own timeout before the worker gives up on an adapter call.
CALL_SLACK_SECONDS = 5.0
# How soon a task whose assistant is at its concurrency limit is tried again.
BUSY_RETRY_SECONDS = (0.2, 1.0)

COLUMNS = (
    "task_id", "kind", "lead_id", "deal_id", "assignee", "human", "state", "priority", "due_at",
    "input", "result", "attempts", "max_attempts", "error", "claimed_by_job", "parent_task_id",
    "escalation_of", "approval_deadline", "approved_payload", "approved_hash", "edit",
    "decided_by", "decided_at", "decision_reason", "effect", "audit_chain", "created_by",
    "created_at", "started_at", "finished_at", "updated_at", "dedup_key",
)  # fmt: skip
_SELECT = f"select {', '.join(COLUMNS)} from app.tasks"
_JSON_COLUMNS = ("result", "approved_payload", "edit", "effect", "input")


class TaskError(Exception):
    """A request the orchestrator refuses; the API answers ``status`` (404, 409 or 422)."""

    def __init__(self, status: int, message: str, *, state: str | None = None):
        super().__init__(message)
        self.status = status
        self.state = state


def payload_hash(payload: Any) -> str:
    """SHA-256 of a payload's canonical JSON (sorted keys): what an approval pins."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _jsonb(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass
class Orchestrator:
    """The task operations, shared by the API, the CLI, automations and the worker."""

    catalog: Catalog
    auditor: Auditor
    adapters: dict[str, Adapter] = field(default_factory=dict)

    # ----- reading -------------------------------------------------------------------------

    async def get(
        self, conn: psycopg.AsyncConnection, task_id: int, *, lock: bool = False
    ) -> dict[str, Any] | None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                _SELECT + " where task_id = %s" + (" for update" if lock else ""), (task_id,)
            )
            return await cur.fetchone()

    async def find(
        self,
        conn: psycopg.AsyncConnection,
        *,
        state: str | None = None,
        assignee: str | None = None,
        lead_id: int | None = None,
        kind: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Newest first; ``before`` is the last task id of the previous page (keyset)."""
        where, params = [], []
        for column, value in (("state", state), ("assignee", assignee), ("lead_id", lead_id),
                              ("kind", kind)):  # fmt: skip
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if before is not None:
            where.append("task_id < %s")
            params.append(before)
        sql = _SELECT + (" where " + " and ".join(where) if where else "")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql + " order by task_id desc limit %s", (*params, limit))
            return await cur.fetchall()

    # ----- creating ------------------------------------------------------------------------

    async def create(
        self,
        conn: psycopg.AsyncConnection,
        *,
        kind: str,
        created_by: str,
        lead_id: int | None = None,
        deal_id: int | None = None,
        input: Mapping[str, Any] | None = None,
        assignee: str | None = None,
        human: bool = False,
        priority: int = 0,
        due_at: datetime | None = None,
        dedup_key: str | None = None,
        parent_task_id: int | None = None,
        escalation_of: int | None = None,
        audit_chain: str | None = None,
        jobs: Deferrals | None = None,
    ) -> tuple[int, bool]:
        """A new task, routed and queued in the caller's transaction: ``(task_id, created)``.

        With a ``dedup_key`` (or as an escalation) a second call returns the first task's id
        and ``created=False``. Jobs go into ``jobs`` when given (the caller flushes them), else
        they are deferred here.
        """
        if kind not in self.catalog.kinds:
            raise TaskError(422, f"kind: unknown task kind {kind!r}; kinds are "
                            f"{', '.join(self.catalog.kinds)}")  # fmt: skip
        if assignee is not None:
            chosen = self.catalog.assistant(assignee)
            if chosen is None:
                names = ", ".join(a.id for a in self.catalog.assistants)
                raise TaskError(422, f"assignee: unknown assistant {assignee!r}; they are {names}")
            if not chosen.human and kind not in chosen.kinds:
                raise TaskError(422, f"assignee: {assignee} does not take {kind} tasks")
        else:
            chosen = self.catalog.route(kind, human=human)
        human = chosen.human
        if lead_id is not None:
            cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
            if await cur.fetchone() is None:
                raise TaskError(422, f"lead_id: no lead {lead_id}")
        cur = await conn.execute(
            "insert into app.tasks (kind, lead_id, deal_id, assignee, human, priority, due_at, "
            "input, created_by, dedup_key, max_attempts, parent_task_id, escalation_of, "
            "audit_chain) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "on conflict do nothing returning task_id, audit_chain",
            (kind, lead_id, deal_id, chosen.id, human, priority, due_at, _jsonb(dict(input or {})),
             created_by, dedup_key, chosen.max_attempts, parent_task_id, escalation_of,
             audit_chain),
        )  # fmt: skip
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "select task_id from app.tasks where dedup_key = %s or escalation_of = %s",
                (dedup_key, escalation_of),
            )
            existing = await cur.fetchone()
            assert existing is not None, "a conflicting insert leaves the row it conflicted with"
            return existing[0], False
        task_id, chain = row
        await self.auditor.record(
            conn, chain=chain, actor=created_by, action="created", lead_id=lead_id,
            task_id=task_id, to_state="queued",
            detail={"kind": kind, "assignee": chosen.id, "priority": priority,
                    "parent_task_id": parent_task_id, "escalation_of": escalation_of},
        )  # fmt: skip
        task = {"task_id": task_id, "state": "queued", "lead_id": lead_id, "audit_chain": chain}
        if human:
            await self._move(conn, task, "awaiting_approval", actor=created_by,
                             reason=f"waiting for {chosen.name}")  # fmt: skip
        else:
            own = jobs if jobs is not None else Deferrals()
            own.add(RUN, priority=priority, task_id=task_id)
            if jobs is None:
                await own.flush(conn)
        return task_id, True

    # ----- the one place a state changes ----------------------------------------------------

    async def _move(
        self,
        conn: psycopg.AsyncConnection,
        task: dict[str, Any],
        to_state: str,
        *,
        actor: str,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
        **columns: Any,
    ) -> None:
        """``task`` (as read, with its state) → ``to_state``, with ``columns`` set; audited."""
        from_state = task["state"]
        if to_state not in TRANSITIONS.get(from_state, ()):
            raise TaskError(
                409, f"task {task['task_id']} is {from_state}; it cannot become {to_state}",
                state=from_state,
            )  # fmt: skip
        sets = ["state = %s"] + [f"{name} = %s" for name in columns]
        values = [to_state] + [
            _jsonb(value) if name in _JSON_COLUMNS else value for name, value in columns.items()
        ]
        try:
            cur = await conn.execute(
                f"update app.tasks set {', '.join(sets)} where task_id = %s and state = %s",
                (*values, task["task_id"], from_state),
            )
        except psycopg.errors.RaiseException as exc:  # the trigger: same table, so same answer
            raise TaskError(409, str(exc.diag.message_primary), state=from_state) from exc
        if cur.rowcount != 1:
            now = await self.get(conn, task["task_id"])
            state = now["state"] if now else None
            raise TaskError(409, f"task {task['task_id']} is {state} now; the decision was "
                            "already made", state=state)  # fmt: skip
        await self.auditor.record(
            conn, chain=task["audit_chain"], actor=actor, action="transition",
            lead_id=task["lead_id"], task_id=task["task_id"], from_state=from_state,
            to_state=to_state, reason=reason, detail=detail,
        )  # fmt: skip
        task["state"] = to_state
        task.update(columns)

    # ----- decisions (API, CLI) -----------------------------------------------------------

    async def approve(
        self,
        conn: psycopg.AsyncConnection,
        task_id: int,
        *,
        actor: str,
        patch: list[dict[str, Any]] | None = None,
        result: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Approve the task's proposal, optionally edited (a JSON Patch, or a whole new result).

        What is approved is validated like an assistant's answer, stored with its SHA-256, and
        is exactly what execution sends. Call inside a transaction.
        """
        task = await self._decidable(conn, task_id)
        proposal, model, effect = self._proposal(task)
        if patch is not None and result is not None:
            raise TaskError(422, "patch: give a patch or a result, not both")
        after = proposal
        if patch is not None:
            if proposal is None:
                raise TaskError(422, "patch: this task has no proposal to edit")
            try:
                after = jsonpatch.apply_patch(proposal, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise TaskError(422, f"patch: {exc}") from exc
            except (TypeError, KeyError, ValueError) as exc:
                raise TaskError(422, f"patch: not a JSON Patch ({exc})") from exc
        elif result is not None:
            after = result
        if after is not None and model is not None:
            try:
                after = model.model_validate(after).model_dump(mode="json")
            except ValidationError as exc:
                raise TaskError(422, f"result: the approved result does not validate: "
                                f"{summarise_errors(exc)}") from exc  # fmt: skip
        edit = None
        if after != proposal:
            edit = {
                "patch": patch if patch is not None else
                jsonpatch.make_patch(proposal or {}, after or {}).patch,
                "before": proposal,
                "after": after,
            }  # fmt: skip
        digest = payload_hash(after) if after is not None else None
        now = datetime.now(UTC)
        await self._move(
            conn, task, "approved", actor=actor, reason=reason,
            detail={"hash": digest, "edited": edit is not None,
                    "patch": edit["patch"] if edit else None},
            approved_payload=after, approved_hash=digest, edit=edit, decided_by=actor,
            decided_at=now, decision_reason=reason,
        )  # fmt: skip
        if effect == "none" or after is None:
            await self._finish(conn, task, actor=actor, reason="approved; nothing to send")
        else:
            jobs = Deferrals()
            jobs.add(EXECUTE, task_id=task_id)
            await jobs.flush(conn)
        return task

    async def reject(
        self, conn: psycopg.AsyncConnection, task_id: int, *, actor: str, reason: str
    ) -> dict[str, Any]:
        if not reason or not reason.strip():
            raise TaskError(422, "reason: a rejection needs a reason")
        task = await self._decidable(conn, task_id)
        await self._move(conn, task, "rejected", actor=actor, reason=reason, decided_by=actor,
                         decided_at=datetime.now(UTC), decision_reason=reason,
                         finished_at=datetime.now(UTC))  # fmt: skip
        return task

    async def cancel(
        self, conn: psycopg.AsyncConnection, task_id: int, *, actor: str, reason: str | None = None
    ) -> dict[str, Any]:
        task = await self.get(conn, task_id, lock=True)
        if task is None:
            raise TaskError(404, f"no task {task_id}")
        if task["state"] not in CANCELLABLE:
            raise TaskError(409, f"task {task_id} is {task['state']}; only "
                            f"{', '.join(CANCELLABLE)} tasks can be cancelled",
                            state=task["state"])  # fmt: skip
        await self._move(conn, task, "cancelled", actor=actor, reason=reason,
                         finished_at=datetime.now(UTC), claimed_by_job=None)  # fmt: skip
        return task

    async def _decidable(self, conn: psycopg.AsyncConnection, task_id: int) -> dict[str, Any]:
        task = await self.get(conn, task_id, lock=True)
        if task is None:
            raise TaskError(404, f"no task {task_id}")
        if task["state"] != "awaiting_approval":
            raise TaskError(409, f"task {task_id} is {task['state']}, not awaiting_approval: "
                            "a decision is made once", state=task["state"])  # fmt: skip
        return task

    def _proposal(self, task: dict[str, Any]) -> tuple[Any, type[BaseModel] | None, str]:
        """What approving ``task`` approves: (proposal, its model, what executing it does).

        An escalation proposes what the escalated task had (an expired draft, say), under the
        escalated kind's model and effect; an escalation of a failed task proposes nothing.
        """
        if task["kind"] == ESCALATION:
            source = (task["input"] or {}).get("kind")
            kind = self.catalog.kinds.get(source) if source else None
            proposal = (task["input"] or {}).get("proposal")
            if kind is None or proposal is None:
                return None, None, "none"
            return proposal, kind.result_model, kind.on_approve
        kind = self.catalog.kinds[task["kind"]]
        return task["result"], kind.result_model, kind.on_approve

    async def _finish(
        self,
        conn: psycopg.AsyncConnection,
        task: dict[str, Any],
        *,
        actor: str,
        reason: str | None = None,
        **columns: Any,
    ) -> None:
        """→ done, and the automation event "task done" (for rules such as research → draft)."""
        await self._move(conn, task, "done", actor=actor, reason=reason,
                         finished_at=datetime.now(UTC), claimed_by_job=None, **columns)  # fmt: skip
        if task["lead_id"] is not None:
            await conn.execute(
                "insert into app.automation_events (lead_id, kind, payload) values "
                "(%s, 'task_done', %s)",
                (task["lead_id"], _jsonb({"task_id": task["task_id"], "task_kind": task["kind"],
                                          "assignee": task["assignee"]})),
            )  # fmt: skip
            await conn.execute("select app.defer_dispatch()")

    # ----- escalation -----------------------------------------------------------------------

    async def escalate(
        self, conn: psycopg.AsyncConnection, task: dict[str, Any], *, actor: str, reason: str
    ) -> int:
        """``task`` (failed or expired) → escalated, and Steve's linked task; once per task."""
        await self._move(conn, task, "escalated", actor=actor, reason=reason,
                         finished_at=datetime.now(UTC), claimed_by_job=None)  # fmt: skip
        human = self.catalog.human
        proposal = task.get("approved_payload") or task.get("result")
        escalation_id, _ = await self.create(
            conn, kind=ESCALATION, created_by=actor, lead_id=task["lead_id"],
            deal_id=task.get("deal_id"), assignee=human.id, priority=task.get("priority") or 0,
            input={"escalated_task": task["task_id"], "kind": task["kind"], "reason": reason,
                   "attempts": task.get("attempts"), "proposal": proposal},
            parent_task_id=task["task_id"], escalation_of=task["task_id"],
            audit_chain=task["audit_chain"],
        )  # fmt: skip
        log.info("task %s escalated to %s as task %s", task["task_id"], human.id, escalation_id)
        return escalation_id

    async def expire(self, conn: psycopg.AsyncConnection, task_id: int, *, actor: str) -> bool:
        """Escalate ``task_id`` if it still awaits approval past its deadline (in a transaction)."""
        task = await self.get(conn, task_id, lock=True)
        if task is None or task["state"] != "awaiting_approval":
            return False
        deadline = task["approval_deadline"]
        if deadline is None or deadline > datetime.now(UTC):
            return False
        await self._move(conn, task, "expired", actor=actor,
                         reason=f"no decision by {deadline.isoformat(timespec='seconds')}")  # fmt: skip
        await self.escalate(conn, task, actor=actor, reason="approval not given in time")
        return True

    async def overdue(self, conn: psycopg.AsyncConnection, limit: int = 500) -> list[int]:
        cur = await conn.execute(
            "select task_id from app.tasks where state = 'awaiting_approval' "
            "and approval_deadline <= now() order by approval_deadline limit %s",
            (limit,),
        )
        return [row[0] for row in await cur.fetchall()]

    async def stranded(self, conn: psycopg.AsyncConnection, limit: int = 500) -> list[int]:
        """Running tasks whose job is gone or failed for good (it ran out of queue retries):
        no copy of it will come back, so nothing would ever finish them."""
        cur = await conn.execute(
            "select t.task_id from app.tasks as t where t.state = 'running' "
            "and t.started_at < now() - interval '1 minute' and not exists ("
            "  select 1 from procrastinate_jobs as j where j.id = t.claimed_by_job "
            "  and j.status in ('todo', 'doing')) "
            "order by t.task_id limit %s",
            (limit,),
        )
        return [row[0] for row in await cur.fetchall()]

    async def recover(self, conn: psycopg.AsyncConnection, task_id: int, *, actor: str) -> str:
        """A stranded task's attempt counts as lost; the next one gets a new job (in a
        transaction)."""
        task = await self.get(conn, task_id, lock=True)
        if task is None or task["state"] != "running":
            return task["state"] if task else "missing"
        await self._lost(conn, task, actor)
        if task["state"] == "retried":
            jobs = Deferrals()
            jobs.add(RUN, priority=task["priority"], task_id=task_id)
            await jobs.flush(conn)
        return task["state"]

    # ----- executing an approved task -------------------------------------------------------

    async def execute(self, conn: psycopg.AsyncConnection, task_id: int, *, actor: str) -> str:
        """Carry out what was approved, exactly: its hash is checked first (in a transaction)."""
        task = await self.get(conn, task_id, lock=True)
        if task is None or task["state"] != "approved":
            return task["state"] if task else "missing"
        payload = task["approved_payload"]
        if payload is None or payload_hash(payload) != task["approved_hash"]:
            await self._move(conn, task, "failed", actor=actor,
                             reason="the approved payload does not match its hash",
                             error="the approved payload does not match its hash")  # fmt: skip
            await self.escalate(conn, task, actor=actor,
                                reason="the approved payload changed after approval")  # fmt: skip
            return "escalated"
        _, _, effect = self._proposal(task)
        done_effect: dict[str, Any]
        if effect == "send_message":
            done_effect = await self._send(conn, task, payload)
        elif effect == "make_offer":
            done_effect = await self._offer(conn, task, payload, actor)
        else:
            done_effect = {}
        done_effect["hash"] = task["approved_hash"]
        # The deal the offer opened (or found) is the task's deal from now on.
        linked = {"deal_id": done_effect["deal_id"]} if done_effect.get("deal_id") else {}
        await self._finish(conn, task, actor=actor, reason=f"executed: {effect}",
                           effect=done_effect, **linked)  # fmt: skip
        return "done"

    async def _send(
        self, conn: psycopg.AsyncConnection, task: dict[str, Any], draft: dict[str, Any]
    ) -> dict[str, Any]:
        if task["lead_id"] is None:
            return {"skipped": "the task has no lead to send to"}
        cur = await conn.execute(
            "insert into app.messages (lead_id, channel, rule_id, step, subject, body, task_id) "
            "values (%s, %s, %s, 0, %s, %s, %s) on conflict (task_id) do nothing "
            "returning message_id",
            (task["lead_id"], draft["channel"], f"task:{task['kind']}", draft.get("subject"),
             draft["body"], task["task_id"]),
        )  # fmt: skip
        row = await cur.fetchone()
        if row is None:  # cannot happen under the task's lock, but never send twice
            cur = await conn.execute(
                "select message_id from app.messages where task_id = %s", (task["task_id"],)
            )
            row = await cur.fetchone()
            assert row is not None
            return {"message_id": row[0]}
        jobs = Deferrals()
        jobs.add(SEND, message_id=row[0])
        await jobs.flush(conn)
        return {"message_id": row[0], "channel": draft["channel"]}

    async def _offer(
        self, conn: psycopg.AsyncConnection, task: dict[str, Any], offer: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        if task["lead_id"] is None:
            return {"skipped": "the task has no lead"}
        # The approved payload's ``recommended``: the figure to open with, as the approver saw
        # it or edited it (low and high stay in the task as the negotiating room).
        amount = offer.get("recommended")
        try:
            async with conn.transaction():  # a savepoint: a refused move still finishes the task
                move = await move_stage(
                    conn, task["lead_id"], "offer_made", actor=f"task:{task['task_id']}",
                    reason=f"offer of ${amount:,} approved by {task['decided_by']}",
                )  # fmt: skip
        except StageError as exc:
            return {"offer": amount, "stage_move": f"refused: {exc}"}
        done = {"offer": amount, "stage_event_id": move.event_id, "stage": move.stage}
        deal = await deals.record_offer(
            conn, self.auditor, task["lead_id"], Decimal(str(amount)), actor=f"task:{task['task_id']}",
            reason=f"offer approved by {task['decided_by']} (task {task['task_id']})",
        )  # fmt: skip
        if deal is not None:
            done["deal_id"] = deal
        return done

    # ----- one attempt (the worker's job) ---------------------------------------------------

    async def run(self, pool: AsyncConnectionPool, task_id: int, job_id: int) -> str:
        """One attempt of ``task_id`` for queue job ``job_id``; returns what happened."""
        worker = "worker"
        async with pool.connection() as conn:
            async with conn.transaction():
                task = await self.get(conn, task_id, lock=True)
                if task is None:
                    return "missing"
                if (
                    task["state"] == "running"
                    and task["claimed_by_job"] == job_id
                    and not await self._lost(conn, task, worker)
                ):
                    return task["state"]
                if task["state"] not in ("queued", "retried"):
                    return task["state"]
                assistant = self.catalog.assistant(task["assignee"] or "")
                if assistant is None or assistant.human:
                    await self._move(conn, task, "running", actor=worker,
                                     attempts=task["attempts"] + 1)  # fmt: skip
                    await self._fail(conn, task, worker, f"no assistant {task['assignee']!r} "
                                     "takes this task", transient=False)  # fmt: skip
                    return task["state"]
                if await self._busy(conn, assistant):
                    jobs = Deferrals()
                    wait = random.uniform(*BUSY_RETRY_SECONDS)
                    jobs.add(RUN, datetime.now(UTC) + timedelta(seconds=wait),
                             priority=task["priority"], task_id=task_id)  # fmt: skip
                    await jobs.flush(conn)
                    return "busy"
                attempt = task["attempts"] + 1
                await self._move(
                    conn, task, "running", actor=f"{worker}:{assistant.id}",
                    reason=f"attempt {attempt} of {task['max_attempts']}",
                    attempts=attempt, claimed_by_job=job_id, started_at=datetime.now(UTC),
                    error=None,
                )  # fmt: skip
            started = datetime.now(UTC)
            answer, error = await self._call(conn, task, assistant)
            async with conn.transaction():
                now = await self.get(conn, task_id, lock=True)
                assert now is not None
                if now["state"] != "running" or now["claimed_by_job"] != job_id or \
                        now["attempts"] != attempt:  # fmt: skip
                    await self._record_call(conn, task, assistant, attempt, started, answer,
                                            error, discarded=True)  # fmt: skip
                    return now["state"]
                await self._record_call(conn, now, assistant, attempt, started, answer, error)
                if answer is not None:
                    await self._succeed(conn, now, assistant, answer)
                else:
                    assert error is not None
                    await self._fail(conn, now, f"{worker}:{assistant.id}", error.reason,
                                     transient=error.transient, retry_after=error.retry_after)  # fmt: skip
                return now["state"]

    async def _busy(self, conn: psycopg.AsyncConnection, assistant: Assistant) -> bool:
        """Whether ``assistant`` already runs its concurrency limit (across every worker)."""
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 7231))",
            ("assistant:" + assistant.id,),
        )
        cur = await conn.execute(
            "select count(*) from app.tasks where assignee = %s and state = 'running'",
            (assistant.id,),
        )
        row = await cur.fetchone()
        return bool(row and row[0] >= assistant.concurrency)

    async def _lost(self, conn: psycopg.AsyncConnection, task: dict[str, Any], actor: str) -> bool:
        """The job's previous attempt died with its worker: record it; True to try again."""
        reason = "the attempt was lost: its worker stopped during the call"
        await conn.execute(
            "insert into app.task_calls (task_id, attempt, assistant, adapter, outcome, reason) "
            "values (%s, %s, %s, '', 'lost', %s) on conflict do nothing",
            (task["task_id"], task["attempts"], task["assignee"], reason),
        )
        await self._fail(conn, task, actor, reason, transient=True, immediately=True)
        return task["state"] == "retried"

    async def _call(
        self, conn: psycopg.AsyncConnection, task: dict[str, Any], assistant: Assistant
    ) -> tuple[AdapterAnswer | None, AdapterError | None]:
        kind = self.catalog.kinds[task["kind"]]
        assert kind.result_model is not None
        try:
            async with conn.transaction():  # its own: no snapshot is held during the call
                context = await lead_context(conn, task["lead_id"]) if task["lead_id"] else {}
        except LookupError:
            context = {}
        try:
            instructions = assistant.render_prompt(task, context)
        except TemplateError as exc:  # the same template fails the same way: no retry
            return None, AdapterError(f"the prompt of {assistant.id} does not render: {exc}",
                                      transient=False)  # fmt: skip
        # The assistant's timeout and its adapter's: the shorter one holds.
        timeout = min(assistant.timeout_seconds, assistant.adapter.timeout_seconds)
        call = AdapterCall(
            task_id=task["task_id"], kind=task["kind"], assistant=assistant.id,
            instructions=instructions, input=task["input"] or {},
            context=context, result_model=kind.result_model, timeout=timeout,
        )  # fmt: skip
        adapter = self._adapter(assistant)
        try:
            answer = await asyncio.wait_for(adapter.run(call), timeout + CALL_SLACK_SECONDS)
        except AdapterError as exc:
            return None, exc
        except TimeoutError:
            return None, AdapterError(f"no answer within {timeout:g} s",
                                      transient=True)  # fmt: skip
        except Exception as exc:  # an adapter's own bug is a failed attempt, not a dead job
            log.exception("task %s: adapter %s raised", task["task_id"], adapter.name)
            return None, AdapterError(f"the adapter raised {type(exc).__name__}", transient=True)
        return answer, None

    def _adapter(self, assistant: Assistant) -> Adapter:
        adapter = self.adapters.get(assistant.id)
        if adapter is None:
            adapter = self.adapters[assistant.id] = build_adapter(assistant.adapter)
        return adapter

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()
        self.adapters.clear()

    async def _record_call(
        self,
        conn: psycopg.AsyncConnection,
        task: dict[str, Any],
        assistant: Assistant,
        attempt: int,
        started: datetime,
        answer: AdapterAnswer | None,
        error: AdapterError | None,
        *,
        discarded: bool = False,
    ) -> None:
        reason: str | None
        request: dict[str, Any] | None
        raw: str | None
        if answer is not None:
            outcome, reason, request, raw = "ok", None, answer.request, answer.raw
        else:
            assert error is not None
            outcome = "invalid" if error.invalid else "error"
            reason, request, raw = error.reason, error.request, error.raw
        if discarded:
            outcome, reason = "discarded", f"the task moved on during the call ({outcome})"
        await conn.execute(
            "insert into app.task_calls (task_id, attempt, assistant, adapter, outcome, reason, "
            "request, raw, model, usage, started_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            (task["task_id"], attempt, assistant.id, assistant.adapter.type, outcome, reason,
             _jsonb(request), raw, answer.model if answer else None,
             _jsonb(answer.usage) if answer else None, started),
        )  # fmt: skip
        if not discarded:
            await self.auditor.record(
                conn, chain=task["audit_chain"], actor=f"assistant:{assistant.id}", action="call",
                lead_id=task["lead_id"], task_id=task["task_id"], reason=reason,
                detail={"attempt": attempt, "outcome": outcome, "adapter": assistant.adapter.type,
                        "model": answer.model if answer else None},
            )  # fmt: skip

    async def _succeed(
        self,
        conn: psycopg.AsyncConnection,
        task: dict[str, Any],
        assistant: Assistant,
        answer: AdapterAnswer,
    ) -> None:
        kind = self.catalog.kinds[task["kind"]]
        actor = f"assistant:{assistant.id}"
        if kind.approval:
            deadline = datetime.now(UTC) + kind.deadline
            await self._move(conn, task, "awaiting_approval", actor=actor,
                             reason=f"leaves the company: approval needed by "
                             f"{deadline.isoformat(timespec='seconds')}",
                             detail={"hash": payload_hash(answer.result)},
                             result=answer.result, approval_deadline=deadline,
                             claimed_by_job=None)  # fmt: skip
            jobs = Deferrals()
            jobs.add(EXPIRE, deadline, task_id=task["task_id"])
            await jobs.flush(conn)
        else:
            await self._finish(conn, task, actor=actor, result=answer.result)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt: exponential with jitter, at least ``retry_after``."""
        ceiling = min(self.catalog.retry.max_seconds,
                      self.catalog.retry.base_seconds * 2 ** max(attempts - 1, 0))  # fmt: skip
        wait = random.uniform(ceiling / 2, ceiling)
        return max(wait, retry_after or 0.0)

    async def _fail(
        self,
        conn: psycopg.AsyncConnection,
        task: dict[str, Any],
        actor: str,
        reason: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        immediately: bool = False,
    ) -> None:
        """running → failed, then retried (with a job at the backoff) or escalated."""
        await self._move(conn, task, "failed", actor=actor, reason=reason, error=reason,
                         claimed_by_job=None)  # fmt: skip
        attempts, limit = task["attempts"], task["max_attempts"]
        if transient and attempts < limit:
            wait = 0.0 if immediately else self.backoff(attempts, retry_after)
            await self._move(conn, task, "retried", actor=actor,
                             reason=f"attempt {attempts + 1} of {limit} in {wait:.1f} s")  # fmt: skip
            if not immediately:
                jobs = Deferrals()
                jobs.add(RUN, datetime.now(UTC) + timedelta(seconds=wait),
                         priority=task["priority"], task_id=task["task_id"])  # fmt: skip
                await jobs.flush(conn)
            return
        why = (f"{reason} (attempt {attempts} of {limit}; no attempt left)" if transient
               else f"{reason} (not retryable)")  # fmt: skip
        await self.escalate(conn, task, actor=actor, reason=why)


def orchestrator_for(settings: Settings, catalog: Catalog | None = None) -> Orchestrator:
    return Orchestrator(
        catalog=catalog or default_catalog(settings.assistants_file),
        auditor=Auditor(audit_key(settings)),
    )


@lru_cache(maxsize=1)
def default_orchestrator() -> Orchestrator:
    """For callers without a worker's runtime (automations run in tests, the CLI)."""
    return orchestrator_for(get_settings())


def to_json(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as the API and CLI show it."""
    return {name: task.get(name) for name in COLUMNS if name not in ("claimed_by_job",)}
