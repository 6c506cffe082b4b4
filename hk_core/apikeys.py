"""API keys: random tokens, stored only as SHA-256 digests, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

KEY_PREFIX = "hk_"
# What a key may do (docs/security.md). Keys made before scopes existed hold all of them.
SCOPES = ("ingest", "read", "operate", "approve", "admin")


class ScopeError(ValueError):
    """A scope list that names an unknown scope, or none."""


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"ingest, read"`` or a list -> the scopes in canonical order; unknown names refused."""
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {item.strip().lower() for item in items if item and item.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ScopeError(f"unknown scope {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    if not wanted:
        raise ScopeError(f"name at least one scope of {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted)


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...] = SCOPES


def _digest(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast digest is enough; a slow KDF would only add
    # latency to every request without making a guess any more likely.
    return hashlib.sha256(token.encode()).digest()


def split_token(token: str) -> tuple[str, str] | None:
    """'hk_<prefix>_<secret>' -> (prefix, secret), or None when malformed."""
    if not token.startswith(KEY_PREFIX):
        return None
    parts = token[len(KEY_PREFIX) :].split("_", 1)
    if len(parts) != 2 or len(parts[0]) != 8 or not parts[1]:
        return None
    return parts[0], parts[1]


def new_token() -> tuple[str, str, bytes]:
    """A fresh key: (prefix, token, the digest that is stored)."""
    prefix = secrets.token_hex(4)
    token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return prefix, token, _digest(token)


def create_api_key(
    conn: psycopg.Connection, name: str, scopes: str | list[str] | tuple[str, ...] = SCOPES
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token, which is shown once and never stored."""
    if not name.strip():
        raise ValueError("an API key needs a name")
    chosen = parse_scopes(scopes)
    prefix, token, digest = new_token()
    row = conn.execute(
        "insert into app.api_keys (name, prefix, key_hash, scopes) values (%s, %s, %s, %s) "
        "returning key_id",
        (name, prefix, digest, list(chosen)),
    ).fetchone()
    assert row is not None
    return ApiKey(row[0], name, prefix, chosen), token


def revoke_api_key(conn: psycopg.Connection, prefix: str) -> bool:
    """Revoke by prefix (the 8 hex characters after ``hk_``); False when no live key has it."""
    cur = conn.execute(
        "update app.api_keys set revoked_at = now() where prefix = %s and revoked_at is null",
        (prefix,),
    )
    return cur.rowcount == 1


@dataclass(frozen=True, slots=True)
class KeyListing:
    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def list_api_keys(conn: psycopg.Connection, *, include_revoked: bool = False) -> list[KeyListing]:
    rows = conn.execute(
        "select key_id, name, prefix, scopes, created_at, revoked_at from app.api_keys "
        "where %s or revoked_at is null order by key_id",
        (include_revoked,),
    ).fetchall()
    return [KeyListing(r[0], r[1], r[2], tuple(r[3]), r[4], r[5]) for r in rows]


def matches(token: str, stored_digest: bytes) -> bool:
    return hmac.compare_digest(_digest(token), bytes(stored_digest))
