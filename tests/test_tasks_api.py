"""Tasks over the API and the CLI, on the session's real server and database.

No worker runs here: a test that needs a task's proposal runs the attempt itself with
``Orchestrator.run`` (the offline adapter), on the job the API deferred.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hk_core.settings import get_settings
from orchestrator.tasks import orchestrator_for, payload_hash

HK = str(Path(sys.executable).with_name("hk"))
LEAD = {"source": "web_form", "first_name": "Ana", "phone": "512-555-0199",
        "property_street": "9 Elm St", "property_state": "TX", "property_zip": "78702"}  # fmt: skip


def _lead(client: httpx.Client, external_id: str) -> int:
    response = client.post("/v1/leads", json={**LEAD, "external_id": external_id})
    assert response.status_code == 201, response.text
    return response.json()["lead_id"]


def _task(client: httpx.Client, **body) -> int:
    response = client.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["task_id"]


def _run(database_url: str, db: psycopg.Connection, task_id: int) -> str:
    """One attempt of the task, as the worker would make it on the job the API deferred."""
    row = db.execute(
        "select id from procrastinate_jobs where task_name = 'tasks.run' "
        "and args->>'task_id' = %s order by id desc limit 1",
        (str(task_id),),
    ).fetchone()
    assert row is not None, f"no tasks.run job for task {task_id}"

    async def attempt() -> str:
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                                   kwargs={"autocommit": True})  # fmt: skip
        async with pool:
            return await orchestrator_for(get_settings()).run(pool, task_id, job_id=row[0])

    return asyncio.run(attempt())


@pytest.fixture
def draft(client, db, database_url):
    """A factory: a fresh SMS outreach draft awaiting approval."""
    count = 0

    def make() -> int:
        nonlocal count
        count += 1
        lead_id = _lead(client, f"T-{count}")
        task_id = _task(client, kind="outreach_draft", lead_id=lead_id, input={"channel": "sms"})
        assert _run(database_url, db, task_id) == "awaiting_approval"
        return task_id

    return make


def _jobs(db: psycopg.Connection, name: str, task_id: int) -> int:
    return db.execute(
        "select count(*) from procrastinate_jobs where task_name = %s and args->>'task_id' = %s",
        (name, str(task_id)),
    ).fetchone()[0]


def test_create_answers_201_and_queues_its_job_in_the_same_transaction(client, db):
    lead_id = _lead(client, "C-1")
    response = client.post("/v1/tasks", json={"kind": "research", "lead_id": lead_id})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["state"], body["assignee"], body["created"]) == ("queued", "researcher", True)
    assert response.headers["Location"] == f"/v1/tasks/{body['task_id']}"
    assert _jobs(db, "tasks.run", body["task_id"]) == 1
    created_by = db.execute(
        "select created_by from app.tasks where task_id = %s", (body["task_id"],)
    ).fetchone()[0]
    assert created_by == "api-key:tests"
    human = client.post("/v1/tasks", json={"kind": "research", "human": True}).json()
    assert (human["assignee"], human["state"]) == ("steve", "awaiting_approval")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "no_such_kind"}, "kind"),
        ({"kind": "research", "lead_id": 999_999}, "lead_id"),
        ({"kind": "research", "assignee": "nobody"}, "assignee"),
        ({"kind": "research", "assignee": "underwriter"}, "assignee"),
        ({"kind": "research", "due_at": "2026-01-01T10:00:00"}, "due_at"),
        ({"kind": "research", "input": {"notes": "x" * 70_000}}, "input"),
        ({"kind": "research", "priority": 10**6}, "priority"),
        ({"kind": "research", "colour": "red"}, "colour"),
        ({"kind": "research", "input": {"n": 2**70}}, "input"),
        ({"kind": "research", "dedup_key": "\ud800"}, "dedup_key"),
    ],
)
def test_a_refused_task_names_the_field_and_leaves_nothing_behind(client, db, body, field):
    # json.dumps escapes a lone surrogate as JSON does; httpx's own encoding would refuse it.
    content = json.dumps(body)
    response = client.post(
        "/v1/tasks", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert db.execute("select count(*) from app.tasks").fetchone()[0] == 0
    assert db.execute("select count(*) from procrastinate_jobs").fetchone()[0] == 0
    assert db.execute("select count(*) from app.task_audit").fetchone()[0] == 0


def test_idempotent_replay_returns_the_first_task(client, db):
    headers = {"Idempotency-Key": "task-1"}
    first = client.post("/v1/tasks", json={"kind": "research"}, headers=headers)
    again = client.post("/v1/tasks", json={"kind": "research"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.json()["created"] is False
    by_body = [client.post("/v1/tasks", json={"kind": "research", "dedup_key": "d-1"})
               for _ in range(2)]  # fmt: skip
    assert [r.status_code for r in by_body] == [201, 200]
    assert by_body[0].json()["task_id"] == by_body[1].json()["task_id"]
    assert db.execute("select count(*) from app.tasks").fetchone()[0] == 2
    assert db.execute("select count(*) from procrastinate_jobs").fetchone()[0] == 2
    both = client.post("/v1/tasks", json={"kind": "research", "dedup_key": "d-2"},
                       headers={"Idempotency-Key": "k"})  # fmt: skip
    assert both.status_code == 422
    assert both.json()["detail"][0]["loc"] == ["body", "dedup_key"]


def test_get_one_shows_its_calls_and_unknown_is_404(client, draft):
    task_id = draft()
    response = client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["state"] == "awaiting_approval"
    assert task["result"]["channel"] == "sms"
    assert task["escalation_task_id"] is None
    [call] = task["calls"]
    assert (call["attempt"], call["outcome"], call["assistant"]) == (1, "ok", "outreach_writer")
    assert "request" in call and "raw" in call
    assert client.get("/v1/tasks/999999").status_code == 404
    assert client.get("/v1/tasks/999999/audit").status_code == 404
    assert client.post("/v1/tasks/999999/approve").status_code == 404


def test_list_filters_and_pages_newest_first(client):
    lead_a, lead_b = _lead(client, "L-A"), _lead(client, "L-B")
    ids = [_task(client, kind="research", lead_id=lead_a) for _ in range(3)]
    ids += [_task(client, kind="follow_up", lead_id=lead_b) for _ in range(2)]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/tasks", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        seen += [t["task_id"] for t in page.json()["tasks"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)

    def found(**params) -> list[int]:
        response = client.get("/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["task_id"] for t in response.json()["tasks"]]

    assert found(lead_id=lead_b) == ids[:2:-1]
    assert found(kind="research") == ids[2::-1]
    assert found(assignee="negotiator") == ids[:2:-1]
    assert found(state="queued") == ids[::-1]
    assert found(state="done") == []
    bad = client.get("/v1/tasks", params={"state": "sleeping"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "state"]
    for cursor in ("x", "\u00b2", str(2**64)):
        refused = client.get("/v1/tasks", params={"cursor": cursor})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_an_edited_approval_records_before_after_and_its_hash(client, db, draft):
    task_id = draft()
    proposal = client.get(f"/v1/tasks/{task_id}").json()["result"]
    body = "Hi Ana, are you still thinking of selling 9 Elm St? Reply STOP to opt out."
    patch = [{"op": "replace", "path": "/body", "value": body}]
    response = client.post(f"/v1/tasks/{task_id}/approve", json={"patch": patch, "reason": "ok"})
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["state"] == "approved"
    assert task["approved_payload"]["body"] == body
    assert task["approved_hash"] == payload_hash(task["approved_payload"])
    assert task["edit"]["before"] == proposal
    assert task["edit"]["after"]["body"] == body
    assert task["edit"]["patch"] == patch
    assert task["decided_by"] == "api-key:tests"
    assert _jobs(db, "tasks.execute", task_id) == 1
    decision = client.get(f"/v1/tasks/{task_id}/audit").json()["rows"][-1]
    assert decision["to_state"] == "approved"
    assert decision["detail"] == {"hash": task["approved_hash"], "edited": True, "patch": patch}


def test_a_patch_that_breaks_the_draft_is_422_and_changes_nothing(client, db, draft):
    task_id = draft()
    patch = [{"op": "replace", "path": "/body", "value": "Hi Ana, can we talk?"}]
    response = client.post(f"/v1/tasks/{task_id}/approve", json={"patch": patch})
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "patch"]
    assert "STOP" in item["msg"]
    not_a_patch = client.post(f"/v1/tasks/{task_id}/approve", json={"patch": [{"op": "fly"}]})
    assert not_a_patch.status_code == 422
    assert not_a_patch.json()["detail"][0]["loc"] == ["body", "patch"]
    assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "awaiting_approval"
    assert _jobs(db, "tasks.execute", task_id) == 0


def test_two_racing_approvals_give_one_200_and_one_409(api_base, api_key, draft):
    tasks = [draft() for _ in range(10)]
    ready = threading.Barrier(2)

    def approve(task_id: int) -> int:
        with httpx.Client(base_url=api_base, headers={"X-API-Key": api_key}) as own:
            own.get("/v1/tasks", params={"limit": 1})  # connected and authenticated first
            ready.wait(timeout=10)
            return own.post(f"/v1/tasks/{task_id}/approve").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for task_id in tasks:
            codes = sorted(pool.map(approve, [task_id, task_id]))
            assert codes == [200, 409], (task_id, codes)


def test_a_decision_is_made_once(client, draft):
    approved, rejected = draft(), draft()
    assert client.post(f"/v1/tasks/{approved}/approve").status_code == 200
    again = client.post(f"/v1/tasks/{approved}/reject", json={"reason": "changed my mind"})
    assert again.status_code == 409
    assert again.json()["state"] == "approved"
    for body in ({}, {"reason": "   "}, None):
        refused = client.post(f"/v1/tasks/{rejected}/reject", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "reason"]
    response = client.post(f"/v1/tasks/{rejected}/reject", json={"reason": "too pushy"})
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["decision_reason"]) == (
        "rejected", "too pushy"
    )  # fmt: skip
    assert client.post(f"/v1/tasks/{rejected}/approve").status_code == 409


def test_cancel_a_queued_task_but_not_a_done_one(client, db, database_url):
    queued = _task(client, kind="research")
    response = client.post(f"/v1/tasks/{queued}/cancel", json={"reason": "not needed"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    done = _task(client, kind="research", lead_id=_lead(client, "X-1"))
    assert _run(database_url, db, done) == "done"
    refused = client.post(f"/v1/tasks/{done}/cancel")
    assert refused.status_code == 409
    assert refused.json()["state"] == "done"


def test_the_audit_route_lists_every_transition_in_one_hash_chain(client, draft):
    task_id = draft()
    assert client.post(f"/v1/tasks/{task_id}/approve").status_code == 200
    response = client.get(f"/v1/tasks/{task_id}/audit")
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    moves = [(r["from_state"], r["to_state"]) for r in rows if r["action"] == "transition"]
    assert moves == [("queued", "running"), ("running", "awaiting_approval"),
                     ("awaiting_approval", "approved")]  # fmt: skip
    assert [r["action"] for r in rows] == ["created", "transition", "call", "transition",
                                           "transition"]  # fmt: skip
    assert rows[0]["prev_hash"] is None
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == previous["hash"]
    assert rows[-1]["actor"] == "api-key:tests"


def test_routes_need_a_key(api_base):
    with httpx.Client(base_url=api_base) as anonymous:
        assert anonymous.get("/v1/tasks").status_code == 401
        assert anonymous.post("/v1/tasks", json={"kind": "research"}).status_code == 401
        assert anonymous.post("/v1/tasks/1/approve").status_code == 401


# ----- the CLI -------------------------------------------------------------------------------


def hk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HK, *args], capture_output=True, text=True, env=dict(os.environ),
                          timeout=120)  # fmt: skip


def test_cli_lists_shows_approves_and_rejects(client, draft):
    edited, refused = draft(), draft()
    listed = hk("tasks", "ls", "--state", "awaiting_approval")
    assert listed.returncode == 0, listed.stderr
    assert str(edited) in listed.stdout and "outreach_draft" in listed.stdout
    assert "2 tasks" in listed.stdout
    shown = hk("tasks", "show", str(edited))
    assert shown.returncode == 0, shown.stderr
    assert "attempt 1: outreach_writer ok" in shown.stdout
    assert "running->awaiting_approval" in shown.stdout
    body = "Hi Ana, may I call you about 9 Elm St? Reply STOP to opt out."
    patch = json.dumps([{"op": "replace", "path": "/body", "value": body}])
    approved = hk("tasks", "approve", str(edited), "--patch", patch, "--reason", "shorter")
    assert approved.returncode == 0, approved.stderr
    assert "approved (edited)" in approved.stdout
    task = client.get(f"/v1/tasks/{edited}").json()
    assert task["approved_payload"]["body"] == body
    assert task["decided_by"].startswith("cli:")
    twice = hk("tasks", "approve", str(edited))
    assert twice.returncode == 1 and twice.stderr.startswith("error:")
    broken = hk("tasks", "approve", str(refused), "--patch",
                '[{"op": "replace", "path": "/body", "value": "call me"}]')  # fmt: skip
    assert broken.returncode == 2 and "STOP" in broken.stderr
    rejected = hk("tasks", "reject", str(refused), "--reason", "wrong tone")
    assert rejected.returncode == 0, rejected.stderr
    assert client.get(f"/v1/tasks/{refused}").json()["state"] == "rejected"
    assert hk("tasks", "show", "999999").returncode == 1


def _tamper(db: psycopg.Connection, sql: str, *params: object) -> None:
    """What a superuser can do: switch the append-only trigger off around an edit."""
    db.execute("alter table app.task_audit disable trigger task_audit_append_only")
    try:
        db.execute(sql, params)
    finally:
        db.execute("alter table app.task_audit enable trigger task_audit_append_only")


def test_audit_verify_finds_an_edited_and_a_deleted_row(client, db, draft):
    task_id = draft()
    assert client.post(f"/v1/tasks/{task_id}/approve").status_code == 200
    intact = hk("audit", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "0 broken" in intact.stdout
    rows = client.get(f"/v1/tasks/{task_id}/audit").json()["rows"]
    ids = [r["audit_id"] for r in rows]
    _tamper(db, "update app.task_audit set reason = 'edited' where audit_id = %s", ids[1])
    edited = hk("audit", "verify")
    assert edited.returncode == 1
    assert f"at audit_id {ids[1]}: its fields do not match its hash" in edited.stdout
    _tamper(db, "update app.task_audit set reason = %s where audit_id = %s", rows[1]["reason"],
            ids[1])  # fmt: skip
    assert hk("audit", "verify").returncode == 0  # the original field back: intact again
    _tamper(db, "delete from app.task_audit where audit_id = %s", ids[2])
    chain = client.get(f"/v1/tasks/{task_id}").json()["audit_chain"]
    deleted = hk("audit", "verify", "--chain", chain)
    assert deleted.returncode == 1
    assert f"at audit_id {ids[3]}: its prev_hash does not match" in deleted.stdout


def test_recorded_chain_heads_find_a_chain_cut_short(client, db, draft, tmp_path):
    task_id = draft()
    chain = client.get(f"/v1/tasks/{task_id}").json()["audit_chain"]
    heads = tmp_path / "heads.json"
    written = hk("audit", "heads", "--out", str(heads))
    assert written.returncode == 0, written.stdout + written.stderr
    last = json.loads(heads.read_text())[chain]
    assert hk("audit", "verify", "--heads", str(heads)).returncode == 0
    # Later rows after a recorded head are fine: the chain only grew.
    assert client.post(f"/v1/tasks/{task_id}/approve").status_code == 200
    assert hk("audit", "verify", "--heads", str(heads)).returncode == 0
    # Cutting rows off the end leaves an intact chain that the recorded head still catches.
    _tamper(db, "delete from app.task_audit where chain = %s and audit_id >= %s", chain, last[0])
    assert hk("audit", "verify").returncode == 0
    cut = hk("audit", "verify", "--heads", str(heads))
    assert cut.returncode == 1
    assert f"chain {chain} at audit_id {last[0]}: the recorded head is gone" in cut.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert hk("audit", "verify", "--heads", str(bad)).returncode == 2
