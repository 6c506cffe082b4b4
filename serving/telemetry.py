"""Tracing and error reporting, each on only when configured.

OpenTelemetry follows its standard variables: tracing starts when an exporter endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or a
``OTEL_TRACES_EXPORTER`` other than ``none`` is set, and ``OTEL_SDK_DISABLED=true`` wins.
Requests become spans through FastAPI's native telemetry (it uses the global tracer provider
set here) and database calls through the psycopg instrumentation. Sentry starts only with a DSN
(``HK_SENTRY_DSN`` or ``SENTRY_DSN``). With neither, nothing is imported or sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fastapi.telemetry import TelemetryConfig

from hk_core.logging import get_logger
from hk_core.settings import Settings

log = get_logger(__name__)
_UNTRACED_PATHS = frozenset({"/health/live", "/metrics"})
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_configured(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or any(environ.get(name) for name in _ENDPOINT_VARIABLES)


_tracing_started = False


def _start_tracing() -> None:
    global _tracing_started
    if _tracing_started:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    resource = Resource.create({"service.name": "hk-api"}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter: SpanExporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_* variables
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(enable_commenter=False)
    _tracing_started = True


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's native OpenTelemetry settings: request spans only when tracing is configured
    (its per-request provider checks cost ~5% of a score request otherwise)."""
    if not tracing_configured():
        return TelemetryConfig(tracing=False, metrics=False, logs=False)
    # Metrics are Prometheus' (/metrics) and logs structlog's: FastAPI only adds spans.
    return TelemetryConfig(tracing=True, metrics=False, logs=False, exclude=_untraced)


def _untraced(scope: Mapping[str, Any]) -> bool:
    return scope.get("path") in _UNTRACED_PATHS


def instrument(settings: Settings) -> None:
    """Start the tracer provider (FastAPI and psycopg spans) and Sentry, where configured."""
    if tracing_configured():
        _start_tracing()
        log.info("tracing on", exporter=os.environ.get("OTEL_TRACES_EXPORTER", "otlp"))
    dsn = (
        settings.sentry_dsn.get_secret_value()
        if settings.sentry_dsn
        else os.environ.get("SENTRY_DSN")
    )
    if dsn:
        import sentry_sdk

        sentry_sdk.init(dsn=dsn, environment=settings.environment, send_default_pii=False)
        log.info("sentry on")
