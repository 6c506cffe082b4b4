"""``hk tasks`` and ``hk audit``: the assistants' work and its audit log, from a terminal.

Decisions go through the same ``Orchestrator`` methods as the API, in one transaction each, so a
decision made here and one made over HTTP race like two HTTP ones: one wins, the other is
refused. The actor is ``cli:<login name>``. Refusals exit 1 (no such task, or not in a state for
it) or 2 (the request itself is wrong), with ``error: ...`` on stderr.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    import psycopg

    from orchestrator.tasks import Orchestrator

tasks_app = typer.Typer(help="Tasks of the assistants and Steve.", no_args_is_help=True)
audit_app = typer.Typer(help="The tasks' audit log.", no_args_is_help=True)

T = TypeVar("T")


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _url() -> str:
    from hk_core.db import database_url
    from hk_core.migrate import upgrade

    url = database_url()
    upgrade(url)
    return url


def _run(work: Callable[[psycopg.AsyncConnection, Orchestrator], Awaitable[T]]) -> T:
    """``work`` in one transaction; a refusal becomes ``error: ...`` and the exit code."""
    import psycopg

    from orchestrator.tasks import TaskError, default_orchestrator

    url = _url()
    orchestrator = default_orchestrator()

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            return await work(conn, orchestrator)

    try:
        return asyncio.run(go())
    except TaskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if exc.status == 422 else 1) from None


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


@tasks_app.command("ls")
def tasks_ls(
    state: Annotated[str | None, typer.Option(help="Only tasks in this state")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assistant's tasks")] = None,
    lead: Annotated[int | None, typer.Option(help="Only this lead's tasks")] = None,
    kind: Annotated[str | None, typer.Option(help="Only tasks of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many")] = 50,
) -> None:
    """List tasks, newest first."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.tasks import STATES

    if state is not None and state not in STATES:
        raise typer.BadParameter(f"not one of {', '.join(STATES)}", param_hint="--state")

    async def find(conn: psycopg.AsyncConnection, orchestrator: Orchestrator) -> list[dict]:
        return await orchestrator.find(
            conn, state=state, assignee=assignee, lead_id=lead, kind=kind, limit=limit
        )

    rows = _run(find)
    table = Table("task", "kind", "state", "assignee", "lead", "priority", "created", "deadline")
    for row in rows:
        table.add_row(
            str(row["task_id"]), row["kind"], row["state"], row["assignee"] or "",
            str(row["lead_id"] or ""), str(row["priority"]), _when(row["created_at"]),
            _when(row["approval_deadline"]),
        )  # fmt: skip
    Console(width=160).print(table)
    typer.echo(f"{len(rows)} task{'s' if len(rows) != 1 else ''}")


@tasks_app.command("show")
def tasks_show(task_id: int) -> None:
    """A task: its fields, what it proposes or did, its calls and its audit trail."""
    from psycopg.rows import dict_row

    from orchestrator.audit import trail

    async def read(conn: psycopg.AsyncConnection, orchestrator: Orchestrator) -> tuple:
        from orchestrator.tasks import TaskError

        task = await orchestrator.get(conn, task_id)
        if task is None:
            raise TaskError(404, f"no task {task_id}")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "select attempt, assistant, outcome, reason, model from app.task_calls "
                "where task_id = %s order by attempt",
                (task_id,),
            )
            calls = await cur.fetchall()
        return task, calls, [row async for row in trail(conn, task_id)]

    task, calls, audit = _run(read)
    for name in ("task_id", "kind", "state", "assignee", "human", "lead_id", "deal_id",
                 "priority", "attempts", "max_attempts", "error", "escalation_of",
                 "approval_deadline", "approved_hash", "decided_by", "decided_at",
                 "decision_reason", "created_by", "created_at", "finished_at"):  # fmt: skip
        value = task[name]
        if value is not None:
            typer.echo(f"{name:>18}: {_when(value) if hasattr(value, 'isoformat') else value}")
    for name in ("input", "result", "approved_payload", "edit", "effect"):
        if task[name]:
            typer.echo(f"{name:>18}: {json.dumps(task[name], default=str)}")
    typer.echo(f"calls ({len(calls)}):")
    for call in calls:
        typer.echo(f"  attempt {call['attempt']}: {call['assistant']} {call['outcome']}"
                   f"{' ' + call['model'] if call['model'] else ''}"
                   f"{': ' + call['reason'] if call['reason'] else ''}")  # fmt: skip
    typer.echo(f"audit ({len(audit)}):")
    for row in audit:
        move = f" {row['from_state'] or ''}->{row['to_state']}" if row["to_state"] else ""
        typer.echo(f"  #{row['audit_id']} {_when(row['occurred_at'])} {row['actor']} "
                   f"{row['action']}{move}{': ' + row['reason'] if row['reason'] else ''}")  # fmt: skip


def _patch(patch: str | None, patch_file: Path | None) -> list[dict[str, Any]] | None:
    if patch is not None and patch_file is not None:
        raise typer.BadParameter("give --patch or --patch-file, not both", param_hint="--patch")
    text = patch_file.read_text() if patch_file is not None else patch
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--patch") from None
    if not isinstance(value, list):
        raise typer.BadParameter("a JSON Patch is a list of operations", param_hint="--patch")
    return value


@tasks_app.command("approve")
def tasks_approve(
    task_id: int,
    patch: Annotated[
        str | None, typer.Option(help='JSON Patch edits, e.g. \'[{"op": "replace", ...}]\'')
    ] = None,
    patch_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="The JSON Patch in a file")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log)")] = None,
) -> None:
    """Approve a task's proposal, as proposed or edited."""
    edits = _patch(patch, patch_file)

    async def approve(conn: psycopg.AsyncConnection, orchestrator: Orchestrator) -> dict:
        return await orchestrator.approve(conn, task_id, actor=_actor(), patch=edits, reason=reason)

    task = _run(approve)
    edited = " (edited)" if task.get("edit") else ""
    typer.echo(f"task {task_id} approved{edited}: {task['state']}; "
               f"hash {task.get('approved_hash') or '-'}")  # fmt: skip


@tasks_app.command("reject")
def tasks_reject(
    task_id: int,
    reason: Annotated[str, typer.Option(help="Why (required)")],
) -> None:
    """Reject a task's proposal."""

    async def reject(conn: psycopg.AsyncConnection, orchestrator: Orchestrator) -> dict:
        return await orchestrator.reject(conn, task_id, actor=_actor(), reason=reason)

    task = _run(reject)
    typer.echo(f"task {task_id} {task['state']}")


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: int,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log)")] = None,
) -> None:
    """Cancel a task that is not finished."""

    async def cancel(conn: psycopg.AsyncConnection, orchestrator: Orchestrator) -> dict:
        return await orchestrator.cancel(conn, task_id, actor=_actor(), reason=reason)

    task = _run(cancel)
    typer.echo(f"task {task_id} {task['state']}")


@audit_app.command("heads")
def audit_heads(
    out: Annotated[Path | None, typer.Option(help="Write them to this file (JSON)")] = None,
) -> None:
    """Each chain's last row and hash: keep them outside the database, and `hk audit verify
    --heads FILE` later also finds a chain cut short or removed whole."""
    import psycopg

    from orchestrator.audit import heads

    with psycopg.connect(_url()) as conn:
        found = {chain: list(head) for chain, head in heads(conn).items()}
    text = json.dumps(found, indent=1, sort_keys=True)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"{len(found):,} chain heads written to {out}")


@audit_app.command("verify")
def audit_verify(
    chain: Annotated[str | None, typer.Option(help="Only this chain, e.g. lead:42")] = None,
    heads_file: Annotated[
        Path | None,
        typer.Option("--heads", help="Also check heads recorded earlier by `hk audit heads`"),
    ] = None,
) -> None:
    """Recompute the audit log's hash chains; exit 1 naming the first broken row of each."""
    import psycopg

    from hk_core.settings import get_settings
    from orchestrator.audit import audit_key, check_heads, verify

    recorded: dict[str, tuple[int, str]] = {}
    if heads_file is not None:
        try:
            loaded = json.loads(heads_file.read_text())
            recorded = {str(c): (int(h[0]), str(h[1])) for c, h in loaded.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
            typer.echo(f"error: --heads {heads_file}: not a file of `hk audit heads` ({exc})",
                       err=True)  # fmt: skip
            raise typer.Exit(2) from None
        if chain is not None:
            recorded = {c: h for c, h in recorded.items() if c == chain}
    with psycopg.connect(_url()) as conn:
        result = verify(conn, audit_key(get_settings()), chain=chain)
        cut = check_heads(conn, recorded)
    breaks = (result.breaks or []) + cut
    typer.echo(f"checked {result.rows:,} rows in {result.chains:,} chains: "
               f"{len(breaks)} broken")  # fmt: skip
    for found in breaks:
        typer.echo(f"broken: chain {found.chain} at audit_id {found.audit_id}: {found.problem}")
    if breaks:
        raise typer.Exit(1)
