"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on the hot path)."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "hk_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BODY_TOO_LARGE = Counter("hk_http_body_too_large_total", "Requests refused with 413", ["route"])


class MetricsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


class BodyLimitMiddleware:
    """413 before a body larger than the limit is read whole.

    A declared Content-Length over the limit is refused without reading; a chunked body is
    counted as it streams and the response is replaced by 413 once it crosses the limit.
    """

    def __init__(self, app, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _reply(send, 400, "Content-Length is not a number")
                if declared > limit:
                    BODY_TOO_LARGE.labels(scope["path"]).inc()
                    return await _reply(send, 413, f"request body larger than {limit} bytes")
                break
        seen = 0
        exceeded = False

        async def counting_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    # Stop feeding the application: it sees a client that went away.
                    return {"type": "http.disconnect"}
            return message

        replied = False

        async def guarded_send(message):
            nonlocal replied
            if exceeded:
                if not replied:
                    replied = True
                    BODY_TOO_LARGE.labels(scope["path"]).inc()
                    await _reply(send, 413, f"request body larger than {limit} bytes")
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # The application saw the body end early and gave up; that is our 413, not its 500.
            if not exceeded:
                raise
        if exceeded and not replied:
            await _reply(send, 413, f"request body larger than {limit} bytes")


async def _reply(send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
