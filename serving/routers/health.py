"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from serving.deps import State

router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: str
    database: str | None = None


@router.get("/health/live", response_model=Health, summary="The process is up")
async def live() -> Any:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Health,
    summary="The database is reachable",
    responses={503: {"model": Health, "description": "Not ready"}},
)
async def ready(state: State, response: Response) -> Any:
    try:
        async with state.pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
            await conn.execute("select 1")
    except Exception as exc:  # any failure to reach the database means "not ready"
        response.status_code = 503
        return {"status": "unavailable", "database": type(exc).__name__}
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
