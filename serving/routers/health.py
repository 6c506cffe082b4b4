"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from serving.deps import AdminKey, State
from serving.errors import ERROR_RESPONSES

router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 2.0


class ModelStatus(BaseModel):
    status: str = Field(description="ok | degraded (registry unreachable) | no_model")
    name: str
    alias: str
    version: str | None = None
    source: str | None = Field(None, description="registry, or cache (the local copy)")
    problem: str | None = None


class Health(BaseModel):
    status: str = Field(description="ok | degraded | unavailable")
    database: str | None = None
    model: ModelStatus | None = None
    score_cache_entries: int | None = Field(None, description="Scores kept in this worker")


@router.get("/health/live", response_model=Health, summary="The process is up")
async def live() -> Any:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Health,
    summary="The database is reachable; the model's state",
    description="200 while requests can be served: `degraded` means the model registry is "
    "unreachable and the last loaded model answers. 503 when the database is unreachable.",
    responses={503: {"model": Health, "description": "Not ready"}},
)
async def ready(state: State, response: Response) -> Any:
    model = state.model.describe()
    try:
        async with state.pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
            await conn.execute("select 1")
    except Exception as exc:  # any failure to reach the database means "not ready"
        response.status_code = 503
        return {"status": "unavailable", "database": type(exc).__name__, "model": model}
    status = "degraded" if model["status"] == "degraded" else "ok"
    entries = len(state.score_cache)
    return {"status": status, "database": "ok", "model": model, "score_cache_entries": entries}


def metrics_router(public: bool) -> APIRouter:
    """``/metrics``: open to the scraper (the default), or for admin keys only
    (``HK_METRICS_PUBLIC=false``)."""
    metrics_routes = APIRouter(tags=["health"])
    if public:

        @metrics_routes.get("/metrics", summary="Prometheus metrics", response_class=Response)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    else:

        @metrics_routes.get(
            "/metrics",
            summary="Prometheus metrics (admin keys)",
            response_class=Response,
            responses={k: v for k, v in ERROR_RESPONSES.items() if k in (401, 403, 429, 503)},
        )
        async def admin_metrics(_key: AdminKey) -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics_routes
