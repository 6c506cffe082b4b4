"""The demo's orchestrator walk: one seller's research → outreach draft → approval → the text.

Run inside the demo's automations part (its API, worker settings and sinks), on the consented
seller who just arrived, through the API as operations would: ``POST /v1/tasks`` asks the
researcher for a brief; the shipped rule ``draft_after_research`` turns "research done" into an
outreach draft; the draft waits for approval; the demo approves it with an edit (signing it), and
the worker sends exactly the approved text through the outbox, under the same send-time checks
as every message. The summary shows each task's audit trail and the chain check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from hk_core.settings import Settings

SIGNATURE = " (Steve, Hidden Key)"


@dataclass
class TaskWalk:
    lead_id: int
    research_id: int | None = None
    draft_id: int | None = None
    brief: str = ""
    proposed: str = ""
    approved: str = ""
    message_status: str = ""
    trail: list[tuple] = field(default_factory=list)  # (task, at, actor, action, move, reason)
    audit_rows: int = 0
    audit_breaks: int = 0
    note: str = ""


def run_task_walk(
    client: httpx.Client,
    settings: Settings,
    conninfo: str,
    lead_id: int,
    run_worker: Callable[[str], None],
) -> TaskWalk:
    """Research, the rule's draft, an edited approval and the send; ``run_worker(label)`` runs
    the worker until nothing is due."""
    walk = TaskWalk(lead_id)
    created = client.post("/v1/tasks", json={"kind": "research", "lead_id": lead_id})
    created.raise_for_status()
    walk.research_id = created.json()["task_id"]
    run_worker("orchestrator: research, then the rule's outreach draft")
    research = client.get(f"/v1/tasks/{walk.research_id}").json()
    walk.brief = (research.get("result") or {}).get("summary", "")
    drafts = client.get("/v1/tasks", params={"lead_id": lead_id, "kind": "outreach_draft"}).json()[
        "tasks"
    ]
    if not drafts:
        walk.note = "no outreach draft: the rule draft_after_research did not match this lead"
        return _read(walk, settings, conninfo)
    draft = drafts[0]
    walk.draft_id = draft["task_id"]
    if draft["state"] != "awaiting_approval":
        walk.note = f"the draft is {draft['state']}: {draft.get('error') or ''}"
        return _read(walk, settings, conninfo)
    walk.proposed = draft["result"]["body"]
    body = walk.proposed
    cut = body.rfind(" Reply STOP")
    signed = body[:cut] + SIGNATURE + body[cut:] if cut > 0 else body + SIGNATURE
    patch = [{"op": "replace", "path": "/body", "value": signed}]
    approved = client.post(
        f"/v1/tasks/{walk.draft_id}/approve", json={"patch": patch, "reason": "signed by Steve"}
    )
    if approved.status_code != 200:
        walk.note = f"the approval was refused: {approved.text[:200]}"
        return _read(walk, settings, conninfo)
    walk.approved = signed
    run_worker("orchestrator: the approved text")
    return _read(walk, settings, conninfo)


def _read(walk: TaskWalk, settings: Settings, conninfo: str) -> TaskWalk:
    from orchestrator.audit import audit_key, verify

    ids = [i for i in (walk.research_id, walk.draft_id) if i is not None]
    with psycopg.connect(conninfo) as conn:
        walk.trail = conn.execute(
            "select task_id, occurred_at, actor, action, "
            "coalesce(from_state || ' → ' || to_state, to_state, ''), coalesce(reason, '') "
            "from app.task_audit where task_id = any(%s) order by audit_id",
            (ids,),
        ).fetchall()
        if walk.draft_id is not None:
            row = conn.execute(
                "select status, coalesce(status_reason, '') from app.messages where task_id = %s",
                (walk.draft_id,),
            ).fetchone()
            walk.message_status = f"{row[0]} {row[1]}".strip() if row else "not queued"
        checked = verify(conn, audit_key(settings), chain=f"lead:{walk.lead_id}")
    walk.audit_rows = checked.rows
    walk.audit_breaks = len(checked.breaks or [])
    return walk


def print_task_walk(console: Console, walk: TaskWalk | None) -> None:
    if walk is None:
        return
    table = Table(title=f"Orchestrator: lead {walk.lead_id}, research → draft → approval (audit)")
    for column in ("task", "who", "what", "why"):
        table.add_column(column, overflow="fold")
    names = {walk.research_id: "research", walk.draft_id: "draft"}
    for task_id, _at, actor, action, move, reason in walk.trail:
        what = move if action == "transition" else action
        why = reason if len(reason) <= 40 else reason[:39] + "…"
        table.add_row(f"{task_id} {names.get(task_id, '')}", actor, what, why)
    console.print(table)
    if walk.brief:
        console.print(f"Research brief: {walk.brief}", markup=False)
    if walk.proposed:
        console.print(f"Draft proposed: {walk.proposed}", markup=False)
    if walk.approved:
        console.print(
            f"Approved (edited) and sent as: {walk.approved} (message: {walk.message_status})",
            markup=False,
        )
    if walk.note:
        console.print(f"[yellow]{walk.note}[/yellow]")
    verdict = "intact" if walk.audit_breaks == 0 else f"{walk.audit_breaks} broken"
    console.print(
        f"Audit chain of lead {walk.lead_id}: {walk.audit_rows} rows, {verdict} "
        "(hk audit verify checks every chain)."
    )
