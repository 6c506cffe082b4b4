"""API keys over HTTP, for admin keys: list, create (the token is shown once), revoke.

The same operations as `hk api-keys ls|create|revoke`. Creating and revoking a key are audit
rows in the chain ``api-keys`` of the orchestrator's append-only log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hk_core.apikeys import SCOPES, ScopeError, new_token, parse_scopes
from serving.deps import AdminKey, State, key_name
from serving.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
AUDIT_CHAIN = "api-keys"
Prefix = Annotated[str, Path(pattern=r"^[0-9a-f]{8}$", description="The 8 hex after `hk_`")]


class KeyOut(BaseModel):
    key_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


class KeyPage(BaseModel):
    keys: list[KeyOut]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        min_length=1, max_length=len(SCOPES), description=f"Some of {', '.join(SCOPES)}"
    )

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a key needs a name")
        return value.strip()

    @field_validator("scopes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        try:
            return list(parse_scopes(value))
        except ScopeError as error:
            raise ValueError(str(error)) from None


class KeyCreated(KeyOut):
    token: str = Field(description="The key itself: shown once, never stored")


_SELECT = "select key_id, name, prefix, scopes, created_at, revoked_at from app.api_keys"


def _key_out(row: Any) -> dict[str, Any]:
    return {
        "key_id": row[0], "name": row[1], "prefix": row[2], "scopes": list(row[3]),
        "created_at": row[4], "revoked_at": row[5],
    }  # fmt: skip


@router.get("", response_model=KeyPage, summary="List API keys", responses=ERROR_RESPONSES)
async def list_keys(state: State, key_id: AdminKey, include_revoked: bool = False) -> Any:
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _SELECT + " where %s or revoked_at is null order by key_id", (include_revoked,)
        )
        rows = await cur.fetchall()
    return {"keys": [_key_out(row) for row in rows]}


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    summary="Create an API key with scopes",
    responses=ERROR_RESPONSES,
)
async def create_key(body: KeyIn, state: State, key_id: AdminKey) -> Any:
    prefix, token, digest = new_token()
    assert state.orchestrator is not None
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "insert into app.api_keys (name, prefix, key_hash, scopes) values (%s, %s, %s, %s) "
            "returning key_id, name, prefix, scopes, created_at, revoked_at",
            (body.name, prefix, digest, body.scopes),
        )
        row = await cur.fetchone()
        assert row is not None
        actor = f"api-key:{await key_name(state, conn, key_id)}"
        await state.orchestrator.auditor.record(
            conn, chain=AUDIT_CHAIN, actor=actor, action="api_key_created",
            detail={"key_id": row[0], "prefix": prefix, "name": body.name,
                    "scopes": body.scopes},
        )  # fmt: skip
    return {**_key_out(row), "token": token}


@router.post(
    "/{prefix}/revoke",
    response_model=KeyOut,
    summary="Revoke an API key (other API processes stop accepting it within the key cache's "
    "lifetime, HK_API_KEY_CACHE_SECONDS)",
    responses={404: {"model": ErrorBody, "description": "No live key has it"}, **ERROR_RESPONSES},
)
async def revoke_key(prefix: Prefix, state: State, key_id: AdminKey) -> Any:
    assert state.orchestrator is not None
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "update app.api_keys set revoked_at = now() where prefix = %s and revoked_at is null "
            "returning key_id, name, prefix, scopes, created_at, revoked_at",
            (prefix,),
        )
        row = await cur.fetchone()
        if row is None:
            raise HTTPException(404, f"no live API key has prefix {prefix}")
        actor = f"api-key:{await key_name(state, conn, key_id)}"
        await state.orchestrator.auditor.record(
            conn, chain=AUDIT_CHAIN, actor=actor, action="api_key_revoked",
            detail={"key_id": row[0], "prefix": prefix, "name": row[1]},
        )  # fmt: skip
    state.key_cache.pop(prefix, None)  # this process stops at once
    return _key_out(row)
