"""Body-size and rate limits, with in-process counters and with Redis."""

from __future__ import annotations

import asyncio
import os
import secrets

import httpx
import pytest
from helpers import TcpProxy

from hk_core.apikeys import create_api_key
from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer

LEAD = {"email": "a@example.com", "property_street": "1 Main St", "property_zip": "10001"}
REDIS_URL = os.environ.get("HK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# 40 s into a minute: every request of a test falls in one rate-limit window.
FROZEN = 1_800_000_040.0


def frozen_clock() -> float:
    return FROZEN


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float = FROZEN):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _redis_or_skip(*, flush: bool = False) -> None:
    import redis

    try:
        client = redis.from_url(REDIS_URL)
        client.ping()
        if flush:  # key ids restart with every test's truncate: old counters would count
            client.flushdb()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")


@pytest.fixture
def limited_api(db):
    settings = get_settings().model_copy(
        update={"max_body_bytes": 2048, "max_bulk_body_bytes": 4096, "rate_limit_per_minute": 5}
    )
    _, token = create_api_key(db, "limited")
    with BackgroundServer(create_app(settings, rate_limit_clock=frozen_clock)) as base:
        yield base, token


def test_declared_oversize_body_is_413_before_reading(limited_api):
    base, token = limited_api
    body = b'{"notes": "' + b"x" * 5000 + b'"}'
    response = httpx.post(f"{base}/v1/leads", content=body,
                          headers={"X-API-Key": token, "content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]


def test_chunked_oversize_body_is_413(limited_api):
    base, token = limited_api

    def chunks():
        yield b"external_id,source,email,property_street,property_zip\n"
        for i in range(500):
            yield f"X{i},web,a{i}@example.com,{i} Main St,10001\n".encode()

    response = httpx.post(f"{base}/v1/leads/bulk", content=chunks(),
                          headers={"X-API-Key": token, "content-type": "text/csv"})  # fmt: skip
    assert response.status_code == 413


def test_rate_limit_per_key_is_429_with_retry_after(limited_api, db):
    base, token = limited_api
    statuses = []
    for i in range(7):
        r = httpx.post(f"{base}/v1/leads", json={**LEAD, "external_id": f"R{i}"},
                       headers={"X-API-Key": token})  # fmt: skip
        statuses.append(r.status_code)
    assert statuses[:5] == [201] * 5 and statuses[5:] == [429, 429]
    assert int(r.headers["retry-after"]) >= 1
    # another key has its own budget
    _, other = create_api_key(db, "other")
    assert (
        httpx.post(f"{base}/v1/leads", json=LEAD, headers={"X-API-Key": other}).status_code == 201
    )


def test_rate_limit_in_redis_is_shared_between_app_instances(db):
    _redis_or_skip(flush=True)
    settings = get_settings().model_copy(
        update={"redis_url": REDIS_URL, "rate_limit_per_minute": 4}
    )
    _, token = create_api_key(db, "redis")
    headers = {"X-API-Key": token}
    with (
        BackgroundServer(create_app(settings, rate_limit_clock=frozen_clock)) as a,
        BackgroundServer(create_app(settings, rate_limit_clock=frozen_clock)) as b,
    ):
        statuses = [
            httpx.post(
                f"{base}/v1/leads", json={**LEAD, "external_id": f"S{i}"}, headers=headers
            ).status_code
            for i, base in enumerate([a, b, a, b, a, b])
        ]
    assert statuses == [201, 201, 201, 201, 429, 429]


def test_redis_leases_never_admit_beyond_the_limit():
    """Two workers taking leases of 1% from one shared counter: at most the limit is
    admitted, and at most a lease per worker is lost."""
    from serving.ratelimit import RedisRateLimiter

    _redis_or_skip()
    key_id = secrets.randbelow(10**9)  # a counter no other run shares

    async def run() -> int:
        a = RedisRateLimiter(REDIS_URL, 1000, clock=frozen_clock)
        b = RedisRateLimiter(REDIS_URL, 1000, clock=frozen_clock)
        assert a.lease == 10
        admitted = 0
        for i in range(1200):
            allowed, _ = await (a if i % 3 else b).hit(key_id=key_id)
            admitted += allowed
        await a.close()
        await b.close()
        return admitted

    admitted = asyncio.run(run())
    assert 1000 - 2 * 10 <= admitted <= 1000


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_window_ends_on_the_minute_and_retry_after_counts_down_to_it(kind):
    from serving.ratelimit import MemoryRateLimiter, RedisRateLimiter

    clock = Clock(1_800_000_000.0 + 57.5)  # 2.5 s before a minute ends
    if kind == "redis":
        _redis_or_skip()
        limiter = RedisRateLimiter(REDIS_URL, 2, clock=clock)
    else:
        limiter = MemoryRateLimiter(2, clock=clock)
    key_id = secrets.randbelow(10**9)

    async def run() -> list[tuple[bool, int]]:
        answers = [await limiter.hit(key_id) for _ in range(3)]
        clock.now += 2.5  # the next minute
        answers += [await limiter.hit(key_id) for _ in range(3)]
        await limiter.close()
        return answers

    assert asyncio.run(run()) == [
        (True, 3), (True, 3), (False, 3),  # refused until the minute is up
        (True, 60), (True, 60), (False, 60),  # a new window, a new budget
    ]  # fmt: skip


def test_with_redis_down_the_limiter_counts_in_the_process_then_returns_to_redis():
    """Fails open to per-process counting: still limited, no error; Redis again once back."""
    from serving.ratelimit import REDIS_RETRY_SECONDS, RedisRateLimiter

    _redis_or_skip()
    host, port, db = _redis_parts(REDIS_URL)
    proxy = TcpProxy(host, port).start()
    clock = Clock()
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{proxy.port}/{db}", 3, clock=clock)
    key_id = secrets.randbelow(10**9)

    async def hits(n: int) -> list[bool]:
        return [(await limiter.hit(key_id))[0] for _ in range(n)]

    async def run() -> tuple[list[bool], list[bool], list[bool]]:
        try:
            before = await hits(2)  # counted in Redis: 2 of 3
            proxy.stop()
            during = await hits(4)  # this process's own count of 3 starts now
            proxy.start()
            clock.now += REDIS_RETRY_SECONDS  # same minute; time to ask Redis again
            after = await hits(2)  # Redis still holds 2: one more is allowed
            return before, during, after
        finally:
            await limiter.close()
            proxy.close()

    assert asyncio.run(run()) == ([True, True], [True, True, True, False], [True, False])


def _redis_parts(url: str) -> tuple[str, int, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.strip("/") or 0)
