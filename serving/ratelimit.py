"""Per-key request limits: fixed one-minute windows, in Redis when configured."""

from __future__ import annotations

import time
from typing import Protocol


class RateLimiter(Protocol):
    limit: int

    async def hit(self, key_id: int) -> tuple[bool, int]:
        """Count a request; returns (allowed, seconds until the window resets)."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """One process's counters: right for a single worker and for tests without Redis."""

    def __init__(self, limit: int):
        self.limit = limit
        self._windows: dict[int, tuple[int, int]] = {}

    async def hit(self, key_id: int) -> tuple[bool, int]:
        now = time.time()
        window = int(now // 60)
        start, count = self._windows.get(key_id, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self._windows[key_id] = (start, count)
        return count <= self.limit, 60 - int(now % 60)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counters shared by every worker and replica through Redis, taken in leases.

    A worker reserves ``lease`` requests at a time from the key's shared counter for the
    current minute (INCRBY + EXPIRE) and admits from its reservation without asking Redis
    again, so a busy key costs one round trip per ``lease`` requests instead of one each (the
    round trip was most of a cached score request). Nothing beyond the limit is ever admitted:
    a lease is cut to what is left under it. Leases a worker does not use are lost for that
    minute, so a key may be refused up to ``lease x workers`` requests early. The lease is 1%
    of the limit (at least 1: small limits are counted exactly).
    """

    def __init__(self, url: str, limit: int, lease_fraction: float = 0.01):
        import redis.asyncio as redis

        self.limit = limit
        self.lease = max(1, int(limit * lease_fraction))
        self._redis = redis.from_url(url)
        self._left: dict[int, tuple[int, int]] = {}  # key_id -> (window, requests left)

    async def hit(self, key_id: int) -> tuple[bool, int]:
        now = time.time()
        window = int(now // 60)
        reset = 60 - int(now % 60)
        held_window, left = self._left.get(key_id, (window, 0))
        if held_window == window and left > 0:
            self._left[key_id] = (window, left - 1)
            return True, reset
        name = f"hk:ratelimit:{key_id}:{window}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(name, self.lease)
            pipe.expire(name, 120)
            total, _ = await pipe.execute()
        granted = min(self.lease, self.limit - (int(total) - self.lease))
        self._left[key_id] = (window, max(granted - 1, 0))
        return granted > 0, reset

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None, limit: int) -> RateLimiter:
    return RedisRateLimiter(redis_url, limit) if redis_url else MemoryRateLimiter(limit)
