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
    """Counters shared by every worker and replica through Redis (INCR + EXPIRE)."""

    def __init__(self, url: str, limit: int):
        import redis.asyncio as redis

        self.limit = limit
        self._redis = redis.from_url(url)

    async def hit(self, key_id: int) -> tuple[bool, int]:
        now = time.time()
        window = int(now // 60)
        name = f"hk:ratelimit:{key_id}:{window}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(name)
            pipe.expire(name, 120)
            count, _ = await pipe.execute()
        return int(count) <= self.limit, 60 - int(now % 60)

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None, limit: int) -> RateLimiter:
    return RedisRateLimiter(redis_url, limit) if redis_url else MemoryRateLimiter(limit)
