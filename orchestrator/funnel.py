"""The funnel's state machine: which stage may follow which, and the one function that moves a lead.

A lead's stage is its latest ``app.stage_events`` row (none: ``new``), the table the pipelines and
marts read, so a move made here and an imported history are one picture. A move locks the lead's
row first, so concurrent moves of one lead serialise: the second sees the stage the first wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

MAIN_PATH = (
    "new",
    "contacted",
    "qualified",
    "appointment_set",
    "offer_made",
    "under_contract",
    "closed_won",
)
CLOSED_LOST = "closed_lost"
STAGES = (*MAIN_PATH, CLOSED_LOST)
OPEN_STAGES = MAIN_PATH[:-1]
CLOSED_STAGES = ("closed_won", CLOSED_LOST)
# A reopened lead goes back to the first stage in which a person is talking to the seller.
REOPEN_STAGE = "contacted"


def allowed_next(stage: str) -> tuple[str, ...]:
    """The stages a lead in ``stage`` may move to, in funnel order."""
    if stage == CLOSED_LOST:
        return (REOPEN_STAGE,)
    if stage == "closed_won":
        return ()
    position = MAIN_PATH.index(stage)
    return (MAIN_PATH[position + 1], CLOSED_LOST)


class StageError(Exception):
    """A move the state machine refuses; the API answers 404, 409 or 422 from ``status``."""

    def __init__(self, status: int, message: str, *, current: str | None = None):
        super().__init__(message)
        self.status = status
        self.current = current
        self.allowed: tuple[str, ...] = allowed_next(current) if current else ()


@dataclass(frozen=True)
class StageMove:
    lead_id: int
    stage: str
    previous: str
    changed: bool
    event_id: int | None
    occurred_at: datetime | None

    @property
    def allowed_next(self) -> tuple[str, ...]:
        return allowed_next(self.stage)


_CURRENT_SQL = """
select stage from app.stage_events
where lead_id = %s
order by occurred_at desc, event_id desc
limit 1
"""
_INSERT_SQL = """
insert into app.stage_events (lead_id, stage, occurred_at, actor, reason, from_stage)
values (%s, %s, clock_timestamp(), %s, %s, %s)
returning event_id, occurred_at
"""


def check_move(current: str, stage: str, reason: str | None) -> None:
    """Raise StageError unless ``current`` → ``stage`` is a legal move with what it needs."""
    if stage not in STAGES:
        raise StageError(422, f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if stage == CLOSED_LOST and not (reason and reason.strip()):
        raise StageError(422, "a reason is required to close a lead as lost", current=current)
    if stage not in allowed_next(current):
        allowed = allowed_next(current)
        options = ", ".join(allowed) if allowed else "none (the lead is closed)"
        raise StageError(
            409,
            f"a lead in {current} cannot move to {stage}; allowed next stages: {options}",
            current=current,
        )


async def current_stage(conn: psycopg.AsyncConnection, lead_id: int) -> str:
    cur = await conn.execute(_CURRENT_SQL, (lead_id,))
    row = await cur.fetchone()
    return row[0] if row else "new"


async def move_stage(
    conn: psycopg.AsyncConnection,
    lead_id: int,
    stage: str,
    *,
    actor: str,
    reason: str | None = None,
) -> StageMove:
    """Move a lead, in the caller's transaction (opened here when there is none).

    Moving a lead to the stage it is already in changes nothing and is not an error, so a
    retried request (or the loser of two identical concurrent moves) gets the same answer.
    """
    async with conn.transaction():
        # The lock first, then the read: a stage read in the locking statement would come from
        # the snapshot taken before waiting for the lock, so a concurrent move would be missed.
        cur = await conn.execute(
            "select 1 from app.leads where lead_id = %s for no key update", (lead_id,)
        )
        if await cur.fetchone() is None:
            raise StageError(404, f"lead {lead_id} not found")
        current = await current_stage(conn, lead_id)
        if stage == current:
            return StageMove(lead_id, stage, current, False, None, None)
        check_move(current, stage, reason)
        cur = await conn.execute(
            _INSERT_SQL, (lead_id, stage, actor, reason.strip() if reason else None, current)
        )
        row = await cur.fetchone()
        assert row is not None
        return StageMove(lead_id, stage, current, True, row[0], row[1])
