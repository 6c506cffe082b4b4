"""``GET /v1/leads/{id}/score`` answered before FastAPI routes the request.

Routing, dependency solving and parameter validation were about half of a cached score's
cost and a fifth of an uncached one's. This pure ASGI middleware recognises the route's
path, and once the API key is valid it counts the request against the key's rate limit and
answers through ``LeadScorer.answer``, the route's own code: the cached answer, or the lead
read and scored (misses coalesced with their neighbours), or the 404/409 that says why not,
with the same body, headers and metrics as the route. Everything else goes on to FastAPI
untouched: another path or method, an id the route would refuse (422), no model (503), no
key or a bad one (401), a key without the ``read`` scope (403), so those answers keep a single source. Nothing is counted or
changed before the key is known to be valid. A database that cannot be reached while the
key is checked or the lead read is the route's 503 (``serving.errors``), answered here.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import psycopg

from serving.deps import authenticate, rate_limited_detail
from serving.errors import DATABASE_RETRY_AFTER, database_unavailable_body

_PATH = re.compile(r"^/v1/leads/([1-9][0-9]{0,18})/score$")
_MAX_LEAD_ID = 2**63 - 1


class _Route:
    """What MetricsMiddleware reads from ``scope["route"]`` (the latency histogram's label)."""

    path = "/v1/leads/{lead_id}/score"


_ROUTE = _Route()


class ScoreFastPath:
    def __init__(self, app: Any, on_answer: Any):
        self.app = app
        self.on_answer = on_answer  # (model version) -> None: the route's served-score counter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        match = _PATH.match(scope["path"])
        state = getattr(scope["app"].state, "hk", None) if match else None
        if state is None:
            return await self.app(scope, receive, send)
        lead_id = int(match.group(1))  # type: ignore[union-attr]
        served = state.model.current
        if lead_id > _MAX_LEAD_ID or served is None:
            return await self.app(scope, receive, send)
        token = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                token = value.decode("latin-1")
                break
        try:
            caller = await authenticate(state, token)
        except psycopg.OperationalError as error:
            scope["route"] = _ROUTE
            return await send_unavailable(send, error)
        if caller is None or "read" not in caller.scopes:
            return await self.app(scope, receive, send)  # FastAPI answers the 401 or 403
        scope["route"] = _ROUTE
        allowed, retry_after = await state.rate_limiter.hit(caller.key_id)
        if not allowed:
            body = orjson.dumps({"detail": rate_limited_detail(state)})
            extra = [(b"retry-after", str(retry_after).encode())]
            return await send_json(send, 429, body, extra)
        try:
            answer = await state.scorer.answer(served, lead_id)
        except psycopg.OperationalError as error:
            return await send_unavailable(send, error)
        if answer.model is None:
            return await send_json(send, answer.status, answer.body, [])
        self.on_answer(served.version)
        await send_json(send, 200, answer.body, [(b"x-model-version", answer.model.encode())])


async def send_unavailable(send: Any, error: psycopg.OperationalError) -> None:
    extra = [(b"retry-after", str(DATABASE_RETRY_AFTER).encode())]
    await send_json(send, 503, database_unavailable_body(error), extra)


async def send_json(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
