"""The intake API while its servers go away: Postgres unreachable, Redis configured but down.

Each server is reached through a TcpProxy on loopback that the test cuts, so the shared
Postgres and Redis other tests use stay up. Scoring under the same outages is in
tests/test_scoring_api.py (it needs a trained model).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import TcpProxy, proxied_postgres_url, wait_for
from psycopg.conninfo import conninfo_to_dict

from hk_core.apikeys import create_api_key
from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer

REDIS_URL = os.environ.get("HK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
LEAD = {"source": "web_form", "email": "ana@example.com", "property_street": "9 Elm St",
        "property_zip": "78702"}  # fmt: skip
CSV = (
    b"external_id,source,email,property_street,property_zip\nB-1,web,b@example.com,1 Oak St,78701\n"
)


def _lead(n: int) -> dict:
    return {**LEAD, "external_id": f"OUT-{n}"}


@pytest.fixture
def postgres_proxy(database_url):
    proxy = TcpProxy.to_postgres(conninfo_to_dict(database_url)).start()
    yield proxy
    proxy.close()


def test_postgres_unreachable_is_503_with_a_reason_never_500_and_recovers(
    db, database_url, postgres_proxy
):
    settings = get_settings().model_copy(
        update={
            "database_url": proxied_postgres_url(database_url, postgres_proxy),
            "db_pool_timeout_seconds": 1.0,
        }
    )
    _, token = create_api_key(db, "outage")
    _, unused = create_api_key(db, "never used before the outage")
    headers = {"X-API-Key": token}
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        assert httpx.post(f"{base}/v1/leads", json=_lead(1), headers=headers).status_code == 201
        assert httpx.get(f"{base}/health/ready").status_code == 200
        postgres_proxy.stop()  # Postgres is gone; the pool's connections die with it

        ready = httpx.get(f"{base}/health/ready", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable" and ready.json()["database"] != "ok"
        requests = [
            ("POST", "/v1/leads", {"json": _lead(2)}, headers),
            ("POST", "/v1/leads", {"json": _lead(3)}, headers),  # a dead pooled connection, then none
            ("GET", "/v1/leads/1", {}, headers),
            ("POST", "/v1/leads", {"json": _lead(4)}, {"X-API-Key": unused}),  # key not cached
            ("POST", "/v1/leads/bulk", {"content": CSV},
             {**headers, "content-type": "text/csv"}),
        ]  # fmt: skip
        for method, path, body, request_headers in requests:
            answer = httpx.request(
                method, f"{base}{path}", headers=request_headers, timeout=30, **body
            )
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert "database is unavailable" in answer.json()["detail"]
            assert int(answer.headers["retry-after"]) > 0

        postgres_proxy.start()  # back on the same port: the pool reconnects by itself
        assert wait_for(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 60)
        again = httpx.post(f"{base}/v1/leads", json=_lead(5), headers=headers)
        assert again.status_code == 201, again.text
    stored = db.execute("select external_id from app.leads order by 1").fetchall()
    assert stored == [("OUT-1",), ("OUT-5",)]  # nothing half-stored during the outage


def test_redis_down_intake_goes_on_and_the_limit_is_kept_per_process(db):
    """The rate limiter fails open to this process's counters (serving/ratelimit.py)."""
    import redis

    try:
        redis.from_url(REDIS_URL).flushdb()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    parts = urlsplit(REDIS_URL)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    settings = get_settings().model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{proxy.port}{parts.path}",
            "rate_limit_per_minute": 3,
        }
    )
    _, token = create_api_key(db, "redis outage")
    headers = {"X-API-Key": token}
    try:
        app = create_app(settings, migrate=False, rate_limit_clock=lambda: 1_800_000_040.0)
        with BackgroundServer(app) as base:

            def post(n: int) -> int:
                return httpx.post(f"{base}/v1/leads", json=_lead(n), headers=headers).status_code

            assert post(1) == 201  # counted in Redis
            proxy.stop()
            assert [post(n) for n in range(2, 6)] == [201, 201, 201, 429]
            assert httpx.get(f"{base}/health/ready").json()["status"] == "ok"
    finally:
        proxy.close()
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 4


def test_postgres_lost_under_load_answers_201_or_503_never_500(db, database_url, postgres_proxy):
    """Leads keep arriving while Postgres goes away and comes back (what a restart does to
    the pool's connections): every answer is a 201 or a 503, and every 201 is stored."""
    settings = get_settings().model_copy(
        update={
            "database_url": proxied_postgres_url(database_url, postgres_proxy),
            "db_pool_timeout_seconds": 1.0,
            "db_pool_max_size": 4,
        }
    )
    _, token = create_api_key(db, "under load")
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def sender(worker: int, base: str) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post("/v1/leads", json=_lead(worker * 1_000_000 + n))
                lead_id = response.json().get("lead_id") if response.status_code == 201 else None
                answers.append((response.status_code, lead_id))

    with BackgroundServer(create_app(settings, migrate=False)) as base:
        senders = [threading.Thread(target=sender, args=(w, base)) for w in range(4)]
        for thread in senders:
            thread.start()
        try:
            assert wait_for(lambda: len(answers) >= 20, 30)
            postgres_proxy.stop()
            assert wait_for(lambda: any(status == 503 for status, _ in answers), 30)
            postgres_proxy.start()
            served_before = len(answers)
            assert wait_for(
                lambda: sum(status == 201 for status, _ in answers[served_before:]) >= 20, 60
            )
        finally:
            stop.set()
            for thread in senders:
                thread.join(timeout=60)
    statuses = {status for status, _ in answers}
    assert statuses == {201, 503}, statuses
    created = {lead_id for status, lead_id in answers if status == 201}
    stored = {row[0] for row in db.execute("select lead_id from app.leads")}
    assert created <= stored
