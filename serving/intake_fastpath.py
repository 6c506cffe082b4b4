"""``POST /v1/leads`` without an Idempotency-Key, answered before FastAPI routes the request.

Routing, dependency solving (the ``Security`` dependency with its scopes, the state, the
header parameters) and FastAPI's middleware were a large part of a stored lead's cost in the
server's own time (benchmarks/README.md, "Single-lead intake (issue 19)"). This pure ASGI
middleware recognises the route, checks the API key, reads
the body and validates it, and only then counts the request against the key's rate limit and
stores the lead through the route's own code (``serving.routers.leads.prepare`` and
``store``): the same row, status, body and ``Location``.

Everything that is not the common case goes on to FastAPI untouched, with the body replayed
when it was already read, so those answers keep a single source: another path or method, an
Idempotency-Key, no key or a bad one (401), a key without the ``ingest`` scope (403), a body
that does not validate (422) or that never arrived whole (the client went away, or
BodyLimitMiddleware cut it off: its 413). Nothing is counted or stored before the request is
known to go no further. A database that cannot be reached is the route's 503
(``serving.errors``), answered here.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg

from hk_core.contract import LeadIn
from serving.deps import authenticate, rate_limited_detail
from serving.fastpath import send_json, send_unavailable
from serving.routers import leads

_PATH = "/v1/leads"


class _Route:
    """What MetricsMiddleware reads from ``scope["route"]`` (the latency histogram's label)."""

    path = _PATH


_ROUTE = _Route()


class LeadIntakeFastPath:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != _PATH:
            return await self.app(scope, receive, send)
        state = getattr(scope["app"].state, "hk", None)
        if state is None:
            return await self.app(scope, receive, send)
        token = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                return await self.app(scope, receive, send)
            if name == b"x-api-key" and token is None:
                token = value.decode("latin-1")
        try:
            caller = await authenticate(state, token)
        except psycopg.OperationalError as error:
            scope["route"] = _ROUTE
            return await send_unavailable(send, error)
        if caller is None or "ingest" not in caller.scopes:
            return await self.app(scope, receive, send)  # FastAPI answers the 401 or 403

        messages = []
        chunks = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return await self.app(scope, _replay(messages, receive), send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            lead = LeadIn.model_validate_json(body)
        except Exception:
            return await self.app(scope, _replay(messages, receive), send)  # the route's 422

        scope["route"] = _ROUTE
        allowed, retry_after = await state.rate_limiter.hit(caller.key_id)
        if not allowed:
            detail = orjson.dumps({"detail": rate_limited_detail(state)})
            return await send_json(send, 429, detail, [(b"retry-after", str(retry_after).encode())])
        prepared = leads.prepare(state, caller.key_id, body, lead)
        try:
            stored = await leads.store(state, caller.key_id, None, body, prepared)
        except psycopg.errors.ForeignKeyViolation:
            state.key_cache.clear()  # as the route does: the key was deleted meanwhile
            return await send_json(send, 401, orjson.dumps({"detail": leads.KEY_GONE_DETAIL}), [])
        except psycopg.OperationalError as error:
            return await send_unavailable(send, error)
        assert isinstance(stored, tuple)  # no Idempotency-Key: never a replayed Response
        status, lead_id, payload = stored
        await send_json(send, status, payload, [(b"location", leads.location(lead_id).encode())])


def _replay(messages: list[dict], receive: Any) -> Any:
    """A ``receive`` that gives the messages already read again, then the real ones."""
    pending = list(messages)

    async def replayed() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
