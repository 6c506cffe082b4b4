"""Deferring queue jobs in the caller's transaction.

procrastinate's own ``defer_async`` takes a connection from its pool, so the job would commit
on its own even when the row that caused it rolls back. These helpers call procrastinate's
versioned SQL function (``procrastinate_defer_jobs_v1``) on the caller's connection instead: the
job exists exactly when the caller's transaction commits. No job here uses a queueing lock, so
no unique violation can abort the caller's transaction; duplicates are harmless by design
(every job re-checks its row under a lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg

QUEUE = "automations"
DISPATCH = "automations.dispatch"
STEP = "automations.step"
SEND = "automations.send"

_DEFER_SQL = """
select procrastinate_defer_jobs_v1(array_agg(
    row(%(queue)s, j.task, j.priority, null, null, j.args, j.at)::procrastinate_job_to_defer_v1
))
from unnest(%(tasks)s::text[], %(args)s::jsonb[], %(ats)s::timestamptz[], %(priorities)s::int[])
    as j (task, args, at, priority)
"""


@dataclass
class Deferrals:
    """Jobs collected during a transaction and deferred together at its end, in one statement."""

    tasks: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    ats: list[datetime | None] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)

    def add(
        self, task: str, at: datetime | None = None, *, priority: int = 0, **kwargs: Any
    ) -> None:
        """A job; a higher ``priority`` is fetched first among the jobs that are due."""
        self.tasks.append(task)
        self.args.append(orjson.dumps(kwargs).decode())
        self.ats.append(at)
        self.priorities.append(priority)

    def __len__(self) -> int:
        return len(self.tasks)

    async def flush(self, conn: psycopg.AsyncConnection) -> int:
        """Defer everything collected on ``conn`` (inside its open transaction)."""
        count = len(self.tasks)
        if count:
            await conn.execute(
                _DEFER_SQL,
                {"queue": QUEUE, "tasks": self.tasks, "args": self.args, "ats": self.ats,
                 "priorities": self.priorities},
            )  # fmt: skip
            self.tasks, self.args, self.ats, self.priorities = [], [], [], []
        return count


async def defer(
    conn: psycopg.AsyncConnection, task: str, at: datetime | None = None, **kwargs: Any
) -> None:
    jobs = Deferrals()
    jobs.add(task, at, **kwargs)
    await jobs.flush(conn)
