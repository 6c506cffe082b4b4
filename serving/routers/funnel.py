"""The funnel over HTTP: move a lead to a stage, read its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.funnel import STAGES, StageError, move_stage
from orchestrator.timeline import timeline
from serving.deps import OperateKey, ReadKey, State, key_name
from serving.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/v1/leads", tags=["funnel"])
LeadId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(description=f"One of {', '.join(STAGES)}", max_length=64)
    reason: str | None = Field(
        default=None, max_length=2000, description="Required for closed_lost"
    )


class StageOut(BaseModel):
    lead_id: int
    stage: str
    previous: str
    changed: bool = Field(description="False when the lead already was in this stage")
    event_id: int | None
    occurred_at: datetime | None
    allowed_next: list[str]


class StageConflict(BaseModel):
    detail: str
    stage: str = Field(description="The lead's stage now")
    allowed_next: list[str]


@router.post(
    "/{lead_id}/stage",
    response_model=StageOut,
    summary="Move a lead to a stage",
    responses={
        404: {"model": ErrorBody, "description": "No such lead"},
        409: {"model": StageConflict, "description": "Not a legal move from the lead's stage"},
        **ERROR_RESPONSES,
    },
)
async def post_stage(lead_id: LeadId, body: StageIn, state: State, key_id: OperateKey) -> Any:
    async with state.pool.connection() as conn, conn.transaction():
        actor = f"api-key:{await key_name(state, conn, key_id)}"
        try:
            move = await move_stage(conn, lead_id, body.stage, actor=actor, reason=body.reason)
        except StageError as exc:
            return _stage_error(exc)
    return StageOut(
        lead_id=move.lead_id, stage=move.stage, previous=move.previous, changed=move.changed,
        event_id=move.event_id, occurred_at=move.occurred_at, allowed_next=list(move.allowed_next),
    )  # fmt: skip


def _stage_error(exc: StageError) -> JSONResponse:
    if exc.status == 409:
        content = {"detail": str(exc), "stage": exc.current, "allowed_next": list(exc.allowed)}
        return JSONResponse(content, status_code=409)
    if exc.status == 422:
        field = "reason" if "reason" in str(exc) else "stage"
        item = {"loc": ["body", field], "msg": str(exc), "type": "value_error"}
        return JSONResponse({"detail": [item]}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime
    kind: str = Field(description="stage | message | reply | score | task")
    id: int


class TimelinePage(BaseModel):
    lead_id: int
    entries: list[TimelineEntry]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


@router.get(
    "/{lead_id}/timeline",
    response_model=TimelinePage,
    summary="A lead's stage changes, messages, replies, scores and tasks, newest first",
    responses={404: {"model": ErrorBody, "description": "No such lead"}, **ERROR_RESPONSES},
)
async def get_timeline(
    lead_id: LeadId,
    state: State,
    key_id: ReadKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    async with state.pool.connection() as conn:
        cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
        if await cur.fetchone() is None:
            raise HTTPException(404, f"lead {lead_id} not found")
        try:
            entries, next_cursor = await timeline(conn, lead_id, limit=limit, cursor=cursor)
        except ValueError as exc:
            detail = [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
    return {"lead_id": lead_id, "entries": entries, "next_cursor": next_cursor}
