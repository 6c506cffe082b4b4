"""Tasks over HTTP: create one, read it with its calls and audit trail, decide on it.

The routes are thin: every change goes through ``orchestrator.tasks.Orchestrator`` in one
transaction on the request's connection, so a created task's job, a decision's audit row and
the job that executes an approval commit together or not at all. Two racing decisions meet in
the orchestrator's conditional UPDATE: one moves the task, the other answers 409.

A task's input, result and calls may hold a seller's first name and address: they are
returned to the caller (operations need them) and never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Header, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from orchestrator.audit import trail
from orchestrator.tasks import STATES, Orchestrator, TaskError, to_json
from serving.deps import ApproveKey, OperateKey, State, key_name
from serving.errors import ERROR_RESPONSES, ErrorBody
from serving.state import AppState

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

BIGINT = 2**63 - 1
# A task's input is read by prompts and stored with every call: a bound keeps one request from
# filling the task and call tables.
MAX_INPUT_BYTES = 64 * 1024
MAX_IDEMPOTENCY_KEY = 255
TaskId = Annotated[int, Path(ge=1, le=BIGINT)]


def _storable_text(value: str | None) -> str | None:
    # Postgres text holds neither NUL nor a lone surrogate (JSON's "\ud800"): refused here as
    # the field's error, not as a 500 from the driver.
    if value is not None:
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return value


def _storable_json(value: Any) -> Any:
    """What jsonb stores as given: UTF-8 text without NUL, integers within 64 bits."""
    if value is None:
        return value
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:  # orjson.JSONEncodeError: a huge integer, a lone surrogate
        raise ValueError(f"cannot be stored as JSON: {exc}") from None
    if b"\\u0000" in encoded:
        raise ValueError("contains a NUL character")
    if len(encoded) > MAX_INPUT_BYTES:
        raise ValueError(f"larger than {MAX_INPUT_BYTES // 1024} KiB as JSON")
    return value


Text = Annotated[str, AfterValidator(_storable_text)]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Text = Field(max_length=64, description="A task kind of the assistants file")
    lead_id: int | None = Field(default=None, ge=1, le=BIGINT, description="The lead it is about")
    deal_id: int | None = Field(default=None, ge=1, le=BIGINT, description="The deal it is about")
    input: dict[str, Any] = Field(
        default_factory=dict,
        description=f"What the assistant is given (at most {MAX_INPUT_BYTES // 1024} KiB as JSON)",
    )
    assignee: Text | None = Field(
        default=None, max_length=64, description="An assistant's id; default: routed by kind"
    )
    human: bool = Field(default=False, description="For a person (Steve), not an assistant")
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher is more urgent")
    due_at: AwareDatetime | None = Field(default=None, description="With a time zone")
    dedup_key: Text | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description="A second request with the same key returns the first task (200)",
    )

    _input = field_validator("input")(_storable_json)


class TaskCreated(BaseModel):
    task_id: int
    created: bool = Field(description="False when a dedup_key or Idempotency-Key replayed")
    kind: str
    state: str
    assignee: str | None
    human: bool
    lead_id: int | None


class TaskOut(BaseModel):
    task_id: int
    kind: str
    lead_id: int | None
    deal_id: int | None
    assignee: str | None
    human: bool
    state: str = Field(description=f"One of {', '.join(STATES)}")
    priority: int
    due_at: datetime | None
    input: dict[str, Any]
    result: Any = Field(description="The assistant's answer (what an approval decides on)")
    attempts: int
    max_attempts: int
    error: str | None
    parent_task_id: int | None
    escalation_of: int | None
    approval_deadline: datetime | None
    approved_payload: Any = Field(description="Exactly what execution sends")
    approved_hash: str | None = Field(description="SHA-256 of the approved payload's JSON")
    edit: dict[str, Any] | None = Field(description="The approver's patch, before and after")
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    effect: dict[str, Any] | None
    audit_chain: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    dedup_key: str | None


class TaskCall(BaseModel):
    attempt: int
    assistant: str
    adapter: str
    outcome: str = Field(description="ok | invalid | error | lost | discarded")
    reason: str | None
    model: str | None
    usage: dict[str, Any] | None
    request: Any = Field(description="What was sent (may hold PII)")
    raw: str | None = Field(description="What came back, as received")
    started_at: datetime | None
    finished_at: datetime


class TaskDetail(TaskOut):
    calls: list[TaskCall]
    escalation_task_id: int | None = Field(description="The person's task it escalated to")


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patch: list[dict[str, Any]] | None = Field(
        default=None, max_length=200, description="JSON Patch (RFC 6902) edits of the proposal"
    )
    result: dict[str, Any] | None = Field(
        default=None, description="A whole replacement of the proposal (instead of a patch)"
    )
    reason: Text | None = Field(default=None, max_length=2000)

    _edits = field_validator("patch", "result")(_storable_json)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(max_length=2000, description="Why (required, not blank)")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=2000)


class TaskConflict(BaseModel):
    detail: str
    state: str | None = Field(description="The task's state now")


class AuditRow(BaseModel):
    audit_id: int
    occurred_at: datetime
    actor: str
    action: str = Field(description="created | transition | call")
    task_id: int | None
    from_state: str | None
    to_state: str | None
    reason: str | None
    detail: dict[str, Any]
    hash: str
    prev_hash: str | None = Field(description="The previous row's hash in the same chain")


class AuditTrail(BaseModel):
    task_id: int
    rows: list[AuditRow]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such task"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": TaskConflict, "description": "Not possible in the task's state"}
}


def _orchestrator(state: AppState) -> Orchestrator:
    assert state.orchestrator is not None, "the lifespan builds it"
    return state.orchestrator


def _task_error(exc: TaskError, *, patched: bool = False) -> JSONResponse:
    message = str(exc)
    if exc.status == 409:
        return JSONResponse({"detail": message, "state": exc.state}, status_code=409)
    if exc.status == 422:
        field = message.split(":", 1)[0] if ":" in message else "body"
        if field == "result" and patched:  # the patch made the proposal invalid
            field = "patch"
        item = {"loc": ["body", field], "msg": message, "type": "value_error"}
        return JSONResponse({"detail": [item]}, status_code=422)
    return JSONResponse({"detail": message}, status_code=exc.status)


@router.post(
    "",
    response_model=TaskCreated,
    status_code=201,
    summary="Create a task (queued for its assistant in the same transaction)",
    responses={
        200: {"model": TaskCreated, "description": "Replayed: the task of this dedup key"},
        **ERROR_RESPONSES,
    },
)
async def post_task(
    body: TaskIn,
    state: State,
    key_id: OperateKey,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="Same key, same task: a replay answers 200 with the first task",
        ),
    ] = None,
) -> Any:
    dedup_key = body.dedup_key
    if idempotency_key is not None:
        if dedup_key is not None:
            item = {"loc": ["body", "dedup_key"], "type": "value_error",
                    "msg": "dedup_key: give dedup_key or an Idempotency-Key header, not both"}  # fmt: skip
            return JSONResponse({"detail": [item]}, status_code=422)
        # Per API key, like the leads' Idempotency-Key: two callers never share a task. Unlike
        # the leads' route the body is not compared: the key names the task, not the request.
        dedup_key = f"api-key:{key_id}:{idempotency_key}"
    orchestrator = _orchestrator(state)
    try:  # outside the transaction: a refusal rolls back whatever it had written
        async with state.pool.connection() as conn, conn.transaction():
            actor = f"api-key:{await key_name(state, conn, key_id)}"
            task_id, created = await orchestrator.create(
                conn, kind=body.kind, created_by=actor, lead_id=body.lead_id,
                deal_id=body.deal_id, input=body.input, assignee=body.assignee, human=body.human,
                priority=body.priority, due_at=body.due_at, dedup_key=dedup_key,
            )  # fmt: skip
            task = await orchestrator.get(conn, task_id)
    except TaskError as exc:
        return _task_error(exc)
    assert task is not None
    response.headers["Location"] = f"/v1/tasks/{task_id}"
    if not created:
        response.status_code = 200
    return TaskCreated(
        task_id=task_id, created=created, kind=task["kind"], state=task["state"],
        assignee=task["assignee"], human=task["human"], lead_id=task["lead_id"],
    )  # fmt: skip


@router.get(
    "",
    response_model=TaskPage,
    summary="Tasks, newest first, filtered by state, assignee, lead and kind",
    responses=ERROR_RESPONSES,
)
async def list_tasks(
    state: State,
    key_id: OperateKey,
    task_state: Annotated[
        str | None, Query(alias="state", max_length=32, description=f"One of {', '.join(STATES)}")
    ] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    lead_id: Annotated[int | None, Query(ge=1, le=BIGINT)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    if task_state is not None and task_state not in STATES:
        return _query_error("state", f"state: {task_state!r} is not one of {', '.join(STATES)}")
    before = None
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or not 1 <= int(cursor) <= BIGINT:
            return _query_error("cursor", "cursor: not a cursor this route returned")
        before = int(cursor)
    for name, value in (("assignee", assignee), ("kind", kind)):
        if value is not None and "\x00" in value:
            return _query_error(name, f"{name}: contains a NUL character")
    async with state.pool.connection() as conn:
        rows = await _orchestrator(state).find(
            conn, state=task_state, assignee=assignee, lead_id=lead_id, kind=kind, before=before,
            limit=limit + 1,
        )  # fmt: skip
    page = rows[:limit]
    next_cursor = str(page[-1]["task_id"]) if len(rows) > limit else None
    return {"tasks": [to_json(row) for row in page], "next_cursor": next_cursor}


def _query_error(field: str, message: str) -> JSONResponse:
    item = {"loc": ["query", field], "msg": message, "type": "value_error"}
    return JSONResponse({"detail": [item]}, status_code=422)


_CALLS_SQL = """
select attempt, assistant, adapter, outcome, reason, model, usage, request, raw, started_at,
    finished_at
from app.task_calls where task_id = %s order by attempt
"""


@router.get(
    "/{task_id}",
    response_model=TaskDetail,
    summary="A task with its assistant calls and its escalation",
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
async def get_task(task_id: TaskId, state: State, key_id: OperateKey) -> Any:
    async with state.pool.connection() as conn:
        task = await _orchestrator(state).get(conn, task_id)
        if task is None:
            raise HTTPException(404, f"no task {task_id}")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_CALLS_SQL, (task_id,))
            calls = await cur.fetchall()
        found = await conn.execute(
            "select task_id from app.tasks where escalation_of = %s", (task_id,)
        )
        escalation = await found.fetchone()
    return {
        **to_json(task),
        "calls": calls,
        "escalation_task_id": escalation[0] if escalation else None,
    }


Decision = Callable[[psycopg.AsyncConnection, str], Awaitable[Any]]


async def _decide(
    state: AppState, key_id: int, task_id: int, decision: Decision
) -> tuple[dict[str, Any] | None, TaskError | None]:
    """Run ``decision(conn, actor)`` in a transaction; the task as committed, or the refusal."""
    async with state.pool.connection() as conn:
        try:
            async with conn.transaction():
                await decision(conn, f"api-key:{await key_name(state, conn, key_id)}")
        except TaskError as exc:
            return None, exc
        task = await _orchestrator(state).get(conn, task_id)
    return (to_json(task) if task else None), None


DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **CONFLICT, **ERROR_RESPONSES}


@router.post(
    "/{task_id}/approve",
    response_model=TaskOut,
    summary="Approve a task's proposal, as proposed or edited (JSON Patch or a new result)",
    responses=DECISION_RESPONSES,
)
async def approve_task(
    task_id: TaskId, state: State, key_id: ApproveKey, body: ApproveIn | None = None
) -> Any:
    body = body or ApproveIn()
    orchestrator = _orchestrator(state)

    async def approve(conn: psycopg.AsyncConnection, actor: str) -> Any:
        return await orchestrator.approve(
            conn, task_id, actor=actor, patch=body.patch, result=body.result, reason=body.reason
        )

    task, error = await _decide(state, key_id, task_id, approve)
    return _task_error(error, patched=body.patch is not None) if error else task


@router.post(
    "/{task_id}/reject",
    response_model=TaskOut,
    summary="Reject a task's proposal (a reason is required)",
    responses=DECISION_RESPONSES,
)
async def reject_task(
    task_id: TaskId, state: State, key_id: ApproveKey, body: RejectIn | None = None
) -> Any:
    # No body at all is the same refusal as a blank reason: the error names ``reason``.
    reason = body.reason if body else ""
    orchestrator = _orchestrator(state)

    async def reject(conn: psycopg.AsyncConnection, actor: str) -> Any:
        return await orchestrator.reject(conn, task_id, actor=actor, reason=reason)

    task, error = await _decide(state, key_id, task_id, reject)
    return _task_error(error) if error else task


@router.post(
    "/{task_id}/cancel",
    response_model=TaskOut,
    summary="Cancel a task that is not finished",
    responses=DECISION_RESPONSES,
)
async def cancel_task(
    task_id: TaskId, state: State, key_id: OperateKey, body: CancelIn | None = None
) -> Any:
    reason = body.reason if body else None
    orchestrator = _orchestrator(state)

    async def cancel(conn: psycopg.AsyncConnection, actor: str) -> Any:
        return await orchestrator.cancel(conn, task_id, actor=actor, reason=reason)

    task, error = await _decide(state, key_id, task_id, cancel)
    return _task_error(error) if error else task


@router.get(
    "/{task_id}/audit",
    response_model=AuditTrail,
    summary="A task's audit rows (and its escalation's), oldest first, with their hashes",
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
async def get_audit(task_id: TaskId, state: State, key_id: OperateKey) -> Any:
    async with state.pool.connection() as conn:
        found = await conn.execute("select 1 from app.tasks where task_id = %s", (task_id,))
        if await found.fetchone() is None:
            raise HTTPException(404, f"no task {task_id}")
        rows = [row async for row in trail(conn, task_id)]
    return {"task_id": task_id, "rows": rows}
