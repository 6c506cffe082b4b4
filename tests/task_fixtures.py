"""Tasks on real parts: a test assistants file, leads, and creating or deciding tasks the way the
API does (``Orchestrator`` in one transaction) from a synchronous test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import yaml  # type: ignore[import-untyped]
from helpers import wait_for
from ops_fixtures import settings_from

from orchestrator.assistants import DEFAULT_ASSISTANTS_FILE, load_catalog
from orchestrator.audit import audit_key, verify
from orchestrator.queue import Deferrals
from orchestrator.tasks import TERMINAL, Orchestrator, orchestrator_for

T = TypeVar("T")

# Nothing but what tasks send: no rule reacts to the leads the tests insert.
NO_RULES = """
quiet_hours: {default: "00:00-23:59", states: {TX: "00:00-23:59"}}
caps: {sms_per_day: 3, email_per_day: 3}
rules: []
"""


def write_assistants(
    path: Path,
    *,
    researcher_adapter: dict[str, Any] | None = None,
    deadlines: dict[str, str] | None = None,
    timeout_seconds: float = 5,
) -> Path:
    """The shipped assistants file with quick retries, short timeouts and the given changes."""
    document = yaml.safe_load(DEFAULT_ASSISTANTS_FILE.read_text())
    document["retry"] = {"base_seconds": 0.2, "max_seconds": 1}
    for kind, deadline in (deadlines or {}).items():
        document["kinds"][kind]["approval_deadline"] = deadline
    for assistant in document["assistants"]:
        if assistant.get("human"):
            continue
        assistant["timeout_seconds"] = timeout_seconds
        if assistant["id"] == "researcher" and researcher_adapter is not None:
            assistant["adapter"] = researcher_adapter
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    load_catalog(path)  # a broken file fails here, not in a worker's log
    return path


def insert_leads(db: psycopg.Connection, count: int, *, start: int = 0) -> list[int]:
    """Leads with an asking price and a mortgage (an offer can be priced), each its own phone."""
    cur = db.execute(
        "insert into app.leads (dedup_key, source, received_at, first_name, phone, phone_e164, "
        "phone_hash, property_street, property_state, property_zip, asking_price, "
        "mortgage_balance, motivation, timeline, consent_sms, intake_channel) "
        "select 'ext:task:' || n, 'vendor', now(), 'Ana', '+1512555' || lpad(n::text, 4, '0'), "
        "'+1512555' || lpad(n::text, 4, '0'), 'th' || n, n || ' Elm St', 'TX', '78702', "
        "250000, 100000, 'inherited', 'asap', true, 'webhook' "
        "from generate_series(%s::int, %s::int) as n order by n returning lead_id",
        (start, start + count - 1),
    )
    return [row[0] for row in cur.fetchall()]


class Tasks:
    """The orchestrator the workers run (same assistants file, same audit key), from tests."""

    def __init__(self, env: dict[str, str], database_url: str):
        self.settings = settings_from(env)
        self.url = database_url
        self.orchestrator: Orchestrator = orchestrator_for(
            self.settings, load_catalog(Path(env["HK_ASSISTANTS_FILE"]))
        )

    def _run(self, work: Callable[[psycopg.AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        async def once() -> T:
            async with (
                await psycopg.AsyncConnection.connect(self.url) as conn,
                conn.transaction(),
            ):
                return await work(conn)

        return asyncio.run(once())

    def create(self, kind: str, lead_id: int | None, **fields: Any) -> int:
        return self.create_many([(kind, lead_id)], **fields)[0]

    def create_many(self, tasks: list[tuple[str, int | None]], **fields: Any) -> list[int]:
        """Every task in one transaction, as an automation's burst would arrive."""

        async def work(conn: psycopg.AsyncConnection) -> list[int]:
            ids = []
            for kind, lead_id in tasks:
                task_id, _ = await self.orchestrator.create(
                    conn, kind=kind, created_by="test", lead_id=lead_id, **fields
                )
                ids.append(task_id)
            return ids

        return self._run(work)

    def approve(self, task_id: int, *, patch: list[dict[str, Any]] | None = None) -> None:
        async def work(conn: psycopg.AsyncConnection) -> None:
            await self.orchestrator.approve(conn, task_id, actor="steve", patch=patch)

        self._run(work)

    def approve_many(self, decisions: list[tuple[int, list[dict[str, Any]] | None]]) -> None:
        """Each ``(task_id, patch)`` approved in its own transaction, on one connection."""

        async def all_of() -> None:
            async with await psycopg.AsyncConnection.connect(self.url) as conn:
                for task_id, patch in decisions:
                    async with conn.transaction():
                        await self.orchestrator.approve(conn, task_id, actor="steve", patch=patch)

        if decisions:
            asyncio.run(all_of())

    def defer(self, job: str, task_id: int, *, at: datetime | None = None, copies: int = 1) -> None:
        """Extra queue jobs for a task, as a retried or duplicated delivery would bring."""

        async def work(conn: psycopg.AsyncConnection) -> None:
            jobs = Deferrals()
            for _ in range(copies):
                jobs.add(job, at, task_id=task_id)
            await jobs.flush(conn)

        self._run(work)

    def verify(self, db: psycopg.Connection):
        return verify(db, audit_key(self.settings))


def task_row(db: psycopg.Connection, task_id: int) -> dict[str, Any]:
    cur = db.execute("select * from app.tasks where task_id = %s", (task_id,))
    assert cur.description is not None
    names = [c.name for c in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no task {task_id}"
    return dict(zip(names, row, strict=True))


def messages_in_flight(db: psycopg.Connection) -> int:
    """Outbox rows the worker has not finished with (queued or being sent)."""
    return db.execute(
        "select count(*) from app.messages where status in ('queued', 'sending')"
    ).fetchone()[0]


def state_of(db: psycopg.Connection, task_id: int) -> str:
    return db.execute("select state from app.tasks where task_id = %s", (task_id,)).fetchone()[0]


def reaches(db: psycopg.Connection, task_id: int, states: tuple[str, ...], seconds: float) -> bool:
    return wait_for(lambda: state_of(db, task_id) in states, seconds)


def all_terminal(db: psycopg.Connection, seconds: float) -> bool:
    def done() -> bool:
        row = db.execute(
            "select count(*) filter (where not state = any(%s)) from app.tasks", (list(TERMINAL),)
        ).fetchone()
        return row is not None and row[0] == 0

    return wait_for(done, seconds)


def audit_of(db: psycopg.Connection, task_id: int) -> list[tuple]:
    """(action, from_state, to_state, reason, detail) of a task's own audit rows, in order."""
    return db.execute(
        "select action, from_state, to_state, reason, detail from app.task_audit "
        "where task_id = %s order by audit_id",
        (task_id,),
    ).fetchall()
