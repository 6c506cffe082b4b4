"""The audit log: append-only rows in hash chains, and the check that finds an edited row.

Every task transition, assistant call and decision is one ``app.task_audit`` row, written in the
transaction that makes the change (a change that rolls back leaves no audit row, and none is ever
missing for one that commits). Rows form one chain per lead (or per lead-less task): each row's
``hash`` is an HMAC-SHA256, under a key the database does not hold, of its own fields and the
previous row's hash. The database refuses UPDATE, DELETE and TRUNCATE; a superuser who disables
that trigger and edits, removes or reorders a row breaks the chain at that row, and cannot
forge a matching hash without the key. ``verify`` recomputes every chain and names the first
broken row of each.

Writers of one chain serialise on a transaction-scoped advisory lock, so the previous hash read
is the last committed one and the chain never forks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from hk_core.settings import Settings

_NEXT_SQL = """
select (select hash from app.task_audit where chain = %s order by audit_id desc limit 1),
    nextval(pg_get_serial_sequence('app.task_audit', 'audit_id'))
"""
_INSERT_SQL = """
insert into app.task_audit
    (audit_id, chain, lead_id, task_id, occurred_at, actor, action, from_state, to_state, reason,
     detail, prev_hash, hash)
overriding system value
values (%(audit_id)s, %(chain)s, %(lead_id)s, %(task_id)s, %(occurred_at)s, %(actor)s,
    %(action)s, %(from_state)s, %(to_state)s, %(reason)s, %(detail)s, %(prev_hash)s, %(hash)s)
"""
_COLUMNS = (
    "audit_id", "chain", "lead_id", "task_id", "occurred_at", "actor", "action", "from_state",
    "to_state", "reason", "detail", "prev_hash",
)  # fmt: skip


def audit_key(settings: Settings) -> bytes:
    """The chain's key: HK_AUDIT_KEY, else one derived from the PII key (never the key itself)."""
    if settings.audit_key is not None:
        return settings.audit_key.get_secret_value().encode()
    pii = settings.pii_key.get_secret_value().encode()
    return hmac.new(pii, b"hk-audit-chain-v1", hashlib.sha256).digest()


def row_hash(key: bytes, row: dict[str, Any]) -> str:
    """The keyed hash of one row: its fields (``prev_hash`` included) in a canonical encoding."""
    fields = [row[name] for name in _COLUMNS]
    at = row["occurred_at"]
    fields[_COLUMNS.index("occurred_at")] = at.astimezone(UTC).isoformat(timespec="microseconds")
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


@dataclass
class Auditor:
    """Writes audit rows on the caller's connection, inside its transaction."""

    key: bytes

    async def record(
        self,
        conn: psycopg.AsyncConnection,
        *,
        chain: str,
        actor: str,
        action: str,
        lead_id: int | None = None,
        task_id: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> str:
        """Append one row to ``chain``; returns its hash."""
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 7231))", ("audit:" + chain,)
        )
        # After the lock, in a statement of its own: its snapshot then sees the last commit.
        cur = await conn.execute(_NEXT_SQL, (chain,))
        last_hash, audit_id = await cur.fetchone()  # type: ignore[misc]
        row: dict[str, Any] = {
            "audit_id": audit_id,
            "chain": chain,
            "lead_id": lead_id,
            "task_id": task_id,
            # Microseconds are what timestamptz keeps, so the hash survives the round trip.
            "occurred_at": datetime.now(UTC),
            "actor": actor,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "detail": detail or {},
            "prev_hash": last_hash,
        }
        row["hash"] = row_hash(self.key, row)
        params = dict(row, detail=orjson.dumps(row["detail"]).decode())
        await conn.execute(_INSERT_SQL, params)
        return row["hash"]


@dataclass(frozen=True)
class Break:
    chain: str
    audit_id: int
    problem: str


@dataclass
class Verification:
    rows: int = 0
    chains: int = 0
    breaks: list[Break] | None = None

    @property
    def ok(self) -> bool:
        return not self.breaks


_VERIFY_SQL = f"""
select {", ".join(_COLUMNS)}, hash from app.task_audit
{{where}}
order by chain, audit_id
"""


def verify(conn: psycopg.Connection, key: bytes, *, chain: str | None = None) -> Verification:
    """Recompute every chain (or one); the first broken row of each chain is reported."""
    where = "where chain = %s" if chain else ""
    result = Verification(breaks=[])
    assert result.breaks is not None
    # A server-side cursor lives in a transaction: an autocommit connection (the CLI's, a
    # test's) has none until this opens one.
    with conn.transaction(), conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute(_VERIFY_SQL.format(where=where), (chain,) if chain else None)
        for problem in _check(_rows(cur), key, result):
            result.breaks.append(problem)
    return result


def heads(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Each chain's last row: ``{chain: (audit_id, hash)}``. Kept outside the database (a file,
    a ticket, another system), they make a chain cut short or removed whole detectable too."""
    rows = conn.execute(
        "select distinct on (chain) chain, audit_id, hash from app.task_audit "
        "order by chain, audit_id desc"
    ).fetchall()
    return {chain: (audit_id, digest) for chain, audit_id, digest in rows}


def check_heads(conn: psycopg.Connection, recorded: dict[str, tuple[int, str]]) -> list[Break]:
    """Every recorded head must still be in its chain with its hash (later rows may follow)."""
    problems = []
    for chain, (audit_id, digest) in sorted(recorded.items()):
        row = conn.execute(
            "select hash from app.task_audit where chain = %s and audit_id = %s",
            (chain, audit_id),
        ).fetchone()
        if row is None:
            problems.append(Break(chain, audit_id, "the recorded head is gone: rows were "
                                  "removed from the chain's end, or the whole chain"))  # fmt: skip
        elif not hmac.compare_digest(row[0], digest):
            problems.append(Break(chain, audit_id, "the recorded head's hash differs"))
    return problems


def _rows(cur: psycopg.Cursor) -> Iterator[dict[str, Any]]:
    names = [*_COLUMNS, "hash"]
    for values in cur:
        yield dict(zip(names, values, strict=True))


def _check(rows: Iterator[dict[str, Any]], key: bytes, result: Verification) -> Iterator[Break]:
    current: str | None = None
    previous: str | None = None
    broken = False
    for row in rows:
        result.rows += 1
        if row["chain"] != current:
            current, previous, broken = row["chain"], None, False
            result.chains += 1
        if broken:
            continue
        if row["prev_hash"] != previous:
            broken = True
            what = "a row before it is missing or was changed" if previous else "it is not first"
            yield Break(current, row["audit_id"], f"its prev_hash does not match: {what}")
        elif not hmac.compare_digest(row_hash(key, row), row["hash"]):
            broken = True
            yield Break(current, row["audit_id"], "its fields do not match its hash (edited)")
        previous = row["hash"]


async def trail(conn: psycopg.AsyncConnection, task_id: int) -> AsyncIterator[dict[str, Any]]:
    """A task's audit rows, oldest first (the task's own and its escalation's)."""
    cur = await conn.execute(
        f"select {', '.join(_COLUMNS)}, hash from app.task_audit "
        "where task_id = %s or task_id in (select task_id from app.tasks where escalation_of = %s) "
        "order by audit_id",
        (task_id, task_id),
    )
    names = [*_COLUMNS, "hash"]
    for values in await cur.fetchall():
        yield dict(zip(names, values, strict=True))
