"""Body-size and rate limits, with in-process counters and with Redis."""

from __future__ import annotations

import os

import httpx
import pytest
from timing import clear_of_minute_boundary

from hk_core.apikeys import create_api_key
from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer

LEAD = {"email": "a@example.com", "property_street": "1 Main St", "property_zip": "10001"}


@pytest.fixture
def limited_api(db):
    settings = get_settings().model_copy(
        update={"max_body_bytes": 2048, "max_bulk_body_bytes": 4096, "rate_limit_per_minute": 5}
    )
    _, token = create_api_key(db, "limited")
    with BackgroundServer(create_app(settings)) as base:
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
    clear_of_minute_boundary()
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
    redis_url = os.environ.get("HK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.from_url(redis_url).flushdb()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {redis_url}")
    settings = get_settings().model_copy(
        update={"redis_url": redis_url, "rate_limit_per_minute": 4}
    )
    _, token = create_api_key(db, "redis")
    headers = {"X-API-Key": token}
    with BackgroundServer(create_app(settings)) as a, BackgroundServer(create_app(settings)) as b:
        clear_of_minute_boundary()
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
    import asyncio

    import redis

    from serving.ratelimit import RedisRateLimiter

    redis_url = os.environ.get("HK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.from_url(redis_url).flushdb()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {redis_url}")

    async def run() -> int:
        a, b = RedisRateLimiter(redis_url, 1000), RedisRateLimiter(redis_url, 1000)
        assert a.lease == 10
        admitted = 0
        for i in range(1200):
            allowed, _ = await (a if i % 3 else b).hit(key_id=77)
            admitted += allowed
        await a.close()
        await b.close()
        return admitted

    clear_of_minute_boundary()
    admitted = asyncio.run(run())
    assert 1000 - 2 * 10 <= admitted <= 1000
