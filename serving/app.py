"""The FastAPI application: built from routers; start-up work lives in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from psycopg_pool import AsyncConnectionPool

from hk_core.db import database_url, mlflow_tracking_url
from hk_core.documents import DocumentStore
from hk_core.logging import configure_logging, get_logger
from hk_core.migrate import upgrade
from hk_core.pii import PiiHasher
from hk_core.settings import Settings, get_settings
from orchestrator.tasks import orchestrator_for
from serving.errors import database_error_handler, validation_error_handler
from serving.fastpath import ScoreFastPath
from serving.features import FeatureStore
from serving.intake_fastpath import LeadIntakeFastPath
from serving.lead_scorer import LeadScorer
from serving.middleware import BodyLimitMiddleware, MetricsMiddleware
from serving.model import ModelHolder
from serving.ratelimit import Clock, make_rate_limiter
from serving.routers import (
    apikeys,
    deals,
    documents,
    esign,
    funnel,
    health,
    lead_webhooks,
    leads,
    scores,
    suppressions,
    tasks,
    webhooks,
)
from serving.score_cache import ScoreCache, keep_warm
from serving.score_marks import ScoreMarks
from serving.state import AppState
from serving.telemetry import fastapi_telemetry, instrument, tracing_configured

log = get_logger(__name__)


# After a Postgres restart the connections idle in the pool are dead and nothing notices until
# one is used: without a check the first request on each would be a 503 from a database that
# is back up. An empty query per checkout costs intake a quarter of its throughput under load,
# so only a connection idle for longer than this is checked: under load a connection is back
# in use within milliseconds and was alive a moment ago, and no restart completes this fast (a
# connection used during the outage is broken and is discarded on its return).
CHECK_IDLE_SECONDS = 0.05
_RETURNED_AT = "_hk_returned_at"


async def note_returned(conn: psycopg.AsyncConnection) -> None:
    setattr(conn, _RETURNED_AT, time.monotonic())


async def check_if_idle(conn: psycopg.AsyncConnection) -> None:
    if time.monotonic() - getattr(conn, _RETURNED_AT, 0.0) > CHECK_IDLE_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, rate_limit_clock: Clock = time.time
) -> FastAPI:
    """The API; ``rate_limit_clock`` is the rate limiter's wall clock (tests freeze it)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        url = database_url(settings)
        if migrate:
            upgrade(url)
        pool = AsyncConnectionPool(
            url, min_size=1, max_size=settings.db_pool_max_size, open=False,
            timeout=settings.db_pool_timeout_seconds, kwargs={"autocommit": True},
            check=check_if_idle, reset=note_returned,
        )  # fmt: skip
        await pool.open()
        limiter = make_rate_limiter(
            settings.redis_url, settings.rate_limit_per_minute, clock=rate_limit_clock
        )
        hasher = PiiHasher(
            settings.pii_key.get_secret_value(),
            default_region=settings.default_phone_region,
            check_deliverability=settings.email_check_deliverability,
        )
        features = FeatureStore(pool, settings.redis_url, settings.feature_cache_ttl_seconds)
        # The store the pipelines register in; the API never creates it.
        model = ModelHolder(settings, mlflow_tracking_url(settings, url))
        if settings.scoring_enabled:
            await model.start(pool)
        else:
            model.unavailable = "scoring is switched off (HK_SCORING_ENABLED=false)"
        cache = ScoreCache(settings.score_cache_size)
        marks = ScoreMarks(pool)
        scorer = LeadScorer(features, model, cache, marks)
        # Validates the assistants file: an API with a broken one does not start.
        orchestrator = orchestrator_for(settings)
        # Spools of uploads cut off when an earlier API process died (docs/documents.md).
        try:
            swept = await asyncio.to_thread(DocumentStore.from_settings(settings).sweep_spools)
        except OSError as exc:
            log.warning("document spools not swept", error=str(exc))
        else:
            if swept:
                log.info("document spools of dead uploads removed", files=swept)
        app.state.hk = AppState(
            settings, url, pool, hasher, limiter, model, features, cache, scorer,
            orchestrator=orchestrator,
        )  # fmt: skip
        warming = None
        if settings.scoring_enabled and settings.score_cache_warm and settings.score_cache_size:
            warming = asyncio.create_task(
                keep_warm(cache, model, url, settings.cache_poll_seconds), name="score-cache-warm"
            )
        log.info(
            "api ready", embedded=settings.embedded, redis=bool(settings.redis_url),
            model=model.describe(),
        )  # fmt: skip
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await warming
            await model.stop()
            await orchestrator.aclose()
            await marks.close()
            await features.close()
            await limiter.close()
            await pool.close()

    instrument(settings)
    app = FastAPI(
        telemetry=fastapi_telemetry(),
        title="Hidden Key lead platform",
        version="0.1.0",
        description="Lead intake and scoring for Hidden Key Investments.",
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.OperationalError, database_error_handler)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.include_router(health.metrics_router(settings.metrics_public))
    app.include_router(leads.router)
    app.include_router(scores.router)
    app.include_router(funnel.router)
    app.include_router(tasks.router)
    app.include_router(deals.router)
    app.include_router(documents.router)
    app.include_router(webhooks.router)
    app.include_router(esign.router)
    app.include_router(lead_webhooks.router_for(settings))
    app.include_router(suppressions.router)
    app.include_router(apikeys.router)

    def body_limit(path: str) -> int:
        if path.endswith("/documents"):
            return documents.body_limit(settings)
        return settings.max_bulk_body_bytes if path.endswith("/bulk") else settings.max_body_bytes

    # Innermost first: a lead score and a new lead skip routing; body limits and metrics see
    # every request. Not with tracing on: FastAPI's routing makes the request spans, so every
    # request takes it.
    if not tracing_configured():
        app.add_middleware(ScoreFastPath, on_answer=scores.count_lead_score)
        app.add_middleware(LeadIntakeFastPath)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    if settings.cors_origins:
        # Explicit origins only (settings refuse "*"): the front end sends the API key.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["Location", "Retry-After", "X-Model-Version", "ETag"],
            max_age=settings.cors_max_age_seconds,
        )
    app.add_middleware(MetricsMiddleware)
    return app
