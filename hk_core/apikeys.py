"""API keys: random tokens, stored only as SHA-256 digests, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import psycopg

KEY_PREFIX = "hk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    name: str
    prefix: str


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


def create_api_key(conn: psycopg.Connection, name: str) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = conn.execute(
        "insert into app.api_keys (name, prefix, key_hash) values (%s, %s, %s) returning key_id",
        (name, prefix, _digest(token)),
    ).fetchone()
    assert row is not None
    return ApiKey(row[0], name, prefix), token


def revoke_api_key(conn: psycopg.Connection, prefix: str) -> bool:
    cur = conn.execute(
        "update app.api_keys set revoked_at = now() where prefix = %s and revoked_at is null",
        (prefix,),
    )
    return cur.rowcount == 1


def matches(token: str, stored_digest: bytes) -> bool:
    return hmac.compare_digest(_digest(token), bytes(stored_digest))
