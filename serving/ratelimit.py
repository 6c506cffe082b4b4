"""Per-key request limits: fixed one-minute windows, in Redis when configured.

Both limiters take a ``clock`` (wall-clock seconds, ``time.time`` by default): the window is
``clock() // 60``, so a test can put requests in one window, or either side of a boundary,
without waiting for the minute.

When Redis is configured but unreachable the limiter fails open to this process's own
counters (docs/serving.md, "Rate limits when Redis is down"): requests are still limited,
per worker instead of across workers, and Redis is asked again after ``retry_seconds``.
Failing closed would turn an outage of an optional cache into an outage of lead intake.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import Counter

from hk_core.logging import get_logger

log = get_logger(__name__)

Clock = Callable[[], float]
WINDOW_SECONDS = 60
# While Redis is down, how long each worker counts locally before trying it again: a dead
# Redis costs one failed round trip per worker per period, not one per request.
REDIS_RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5

RATE_LIMIT_FALLBACKS = Counter(
    "hk_rate_limit_redis_unavailable_total",
    "Times the rate limiter found Redis unreachable and counted in process memory instead",
)


class RateLimiter(Protocol):
    limit: int

    async def hit(self, key_id: int) -> tuple[bool, int]:
        """Count a request; returns (allowed, seconds until the window resets)."""
        ...

    async def close(self) -> None: ...


def _window(now: float) -> tuple[int, int]:
    """(window number, whole seconds until it ends, at least 1)."""
    return int(now // WINDOW_SECONDS), WINDOW_SECONDS - int(now % WINDOW_SECONDS)


class MemoryRateLimiter:
    """One process's counters: right for a single worker and for tests without Redis."""

    def __init__(self, limit: int, *, clock: Clock = time.time):
        self.limit = limit
        self._clock = clock
        self._windows: dict[int, tuple[int, int]] = {}

    async def hit(self, key_id: int) -> tuple[bool, int]:
        window, reset = _window(self._clock())
        start, count = self._windows.get(key_id, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self._windows[key_id] = (start, count)
        return count <= self.limit, reset

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

    def __init__(
        self,
        url: str,
        limit: int,
        lease_fraction: float = 0.01,
        *,
        clock: Clock = time.time,
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ):
        import redis.asyncio as redis

        self.limit = limit
        self.lease = max(1, int(limit * lease_fraction))
        self._clock = clock
        self._redis = redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._left: dict[int, tuple[int, int]] = {}  # key_id -> (window, requests left)
        self._local = MemoryRateLimiter(limit, clock=clock)
        self._retry_seconds = retry_seconds
        self._redis_down_until: float | None = None

    async def hit(self, key_id: int) -> tuple[bool, int]:
        now = self._clock()
        window, reset = _window(now)
        held_window, left = self._left.get(key_id, (window, 0))
        if held_window == window and left > 0:
            self._left[key_id] = (window, left - 1)
            return True, reset
        if self._redis_down_until is not None:
            if now < self._redis_down_until:
                return await self._local.hit(key_id)
            self._redis_down_until = None
        name = f"hk:ratelimit:{key_id}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incrby(name, self.lease)
                pipe.expire(name, 2 * WINDOW_SECONDS)
                total, _ = await pipe.execute()
        except Exception as error:  # noqa: BLE001 -- any Redis failure: count locally
            self._redis_down_until = now + self._retry_seconds
            RATE_LIMIT_FALLBACKS.inc()
            log.warning(
                "rate limiter cannot reach Redis; counting in this process",
                error=type(error).__name__, retry_seconds=self._retry_seconds,
            )  # fmt: skip
            return await self._local.hit(key_id)
        granted = min(self.lease, self.limit - (int(total) - self.lease))
        self._left[key_id] = (window, max(granted - 1, 0))
        return granted > 0, reset

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(
    redis_url: str | None, limit: int, *, clock: Clock = time.time
) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, limit, clock=clock)
    return MemoryRateLimiter(limit, clock=clock)
