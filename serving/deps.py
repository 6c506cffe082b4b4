"""Request dependencies: the app state, the caller's API key, its scope and its rate limit.

Every route names the one scope it needs in its signature (``key_id: OperateKey``); FastAPI
puts that in the operation's security requirement in the OpenAPI schema, which is where
``tests/test_scopes.py`` reads it to prove each route refuses a key without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, SecurityScopes

from hk_core.apikeys import matches, split_token
from serving.state import AppState

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key from `hk api-keys create`"
)
_UNAUTHORIZED = HTTPException(
    status_code=401, detail="missing or invalid X-API-Key", headers={"WWW-Authenticate": "ApiKey"}
)


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool.
    return request.app.state.hk


State = Annotated[AppState, Depends(get_state)]


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    scopes: frozenset[str]


async def _lookup(state: AppState, prefix: str) -> tuple[int, bytes, frozenset[str]] | None:
    cached = state.key_cache.get(prefix)
    now = time.monotonic()
    if cached and now - cached[3] < state.settings.api_key_cache_seconds:
        return cached[0], cached[1], cached[2]
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select key_id, key_hash, scopes from app.api_keys "
            "where prefix = %s and revoked_at is null",
            (prefix,),
        )
        row = await cur.fetchone()
    if row is None:
        state.key_cache.pop(prefix, None)
        return None
    scopes = frozenset(row[2])
    state.key_cache[prefix] = (row[0], bytes(row[1]), scopes, now)
    return row[0], bytes(row[1]), scopes


async def authenticate(state: AppState, token: str | None) -> Caller | None:
    """The caller behind a valid, unrevoked ``X-API-Key`` value, else None."""
    if not token:
        return None
    parts = split_token(token)
    if parts is None:
        return None
    found = await _lookup(state, parts[0])
    if found is None or not matches(token, found[1]):
        return None
    return Caller(found[0], found[2])


def missing_scope_detail(scope: str) -> str:
    return f"this API key lacks the {scope!r} scope"


def rate_limited_detail(state: AppState) -> str:
    return f"rate limit of {state.rate_limiter.limit} requests per minute exceeded"


async def api_key_id(
    security_scopes: SecurityScopes,
    state: State,
    token: Annotated[str | None, Security(API_KEY_HEADER)],
) -> int:
    """The caller's key id; 401 unless the key is valid, 403 without the route's scope, 429
    once it is over its limit."""
    caller = await authenticate(state, token)
    if caller is None:
        raise _UNAUTHORIZED
    for scope in security_scopes.scopes:
        if scope not in caller.scopes:
            raise HTTPException(status_code=403, detail=missing_scope_detail(scope))
    allowed, retry_after = await state.rate_limiter.hit(caller.key_id)
    if not allowed:
        raise HTTPException(
            status_code=429,
            detail=rate_limited_detail(state),
            headers={"Retry-After": str(retry_after)},
        )
    return caller.key_id


# The scope each route needs, one per route (docs/security.md has the table).
IngestKey = Annotated[int, Security(api_key_id, scopes=["ingest"])]
ReadKey = Annotated[int, Security(api_key_id, scopes=["read"])]
OperateKey = Annotated[int, Security(api_key_id, scopes=["operate"])]
ApproveKey = Annotated[int, Security(api_key_id, scopes=["approve"])]
AdminKey = Annotated[int, Security(api_key_id, scopes=["admin"])]


async def key_name(state: AppState, conn: psycopg.AsyncConnection, key_id: int) -> str:
    """The key's name (a key's name never changes, so each process asks once per key)."""
    name = state.key_names.get(key_id)
    if name is None:
        cur = await conn.execute("select name from app.api_keys where key_id = %s", (key_id,))
        row = await cur.fetchone()
        name = state.key_names[key_id] = row[0] if row else str(key_id)
    return name
