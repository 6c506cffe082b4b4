"""Online scoring against real servers: Postgres marts, a real MLflow store, the real API.

A synthetic book (known signal) is written as the marts, a model is trained, registered and
promoted in MLflow's database store, the nightly rescoring writes ml.lead_scores, and the
API (uvicorn on loopback) must agree with that batch for every lead.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from helpers import (
    TcpProxy,
    metric_delta,
    proxied_postgres_url,
    refused_port,
    served_port,
    wait_for,
)
from ml_fixtures import synthetic_marts_database
from psycopg.conninfo import conninfo_to_dict

from hk_core.apikeys import create_api_key
from hk_core.db import with_driver
from hk_core.feature_cache import invalidate
from hk_core.features import FEATURES
from hk_core.settings import Settings
from ml.registry import CHAMPION, MODEL_NAME, artifact_root, configure, load_champion, tracking_uri
from ml.scoring import rescore
from ml.workflow import load_training_set, train_and_register
from serving.app import create_app
from serving.background import BackgroundServer
from serving.telemetry import tracing_configured

N_LEADS = 2400
FAST = {"nthread": 1, "max_depth": 3, "learning_rate": 0.1}
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
REDIS_URL = os.environ.get("HK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _promote(uri: str, version: str) -> None:
    configure(uri).set_registered_model_alias(MODEL_NAME, CHAMPION, version)


def _train(url: str, uri: str, artifacts: str, **params) -> str:
    result = train_and_register(
        load_training_set(url), uri=uri, artifacts=artifacts, xgb_params={**FAST, **params}
    )
    return result.logged.version


@pytest.fixture(scope="module")
def book(server_url, tmp_path_factory):
    """Marts, a champion (v1), last night's batch scores, an API key."""
    with synthetic_marts_database(server_url, "hk_scoring", N_LEADS, 23) as url:
        home = tmp_path_factory.mktemp("scoring-home")
        settings = Settings(database_url=url, home=home)
        uri, artifacts = tracking_uri(settings), artifact_root(settings)
        version = _train(url, uri, artifacts)
        _promote(uri, version)
        champion = load_champion(uri)
        assert champion is not None
        rescore(url, champion, features_sql="marts.lead_features", approximate_reasons=True)
        with psycopg.connect(url, autocommit=True) as conn:
            key = create_api_key(conn, "scoring-tests")[1]
        yield {"url": url, "uri": uri, "artifacts": artifacts, "home": home, "key": key,
               "version": version}  # fmt: skip


def _settings(book, **overrides) -> Settings:
    values = {
        "database_url": book["url"], "home": book["home"], "rate_limit_per_minute": 10**9,
        "model_poll_seconds": 0.25, "cache_poll_seconds": 0.2, "log_level": "WARNING",
    }  # fmt: skip
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def api(book):
    headers = {"X-API-Key": book["key"]}
    with (
        BackgroundServer(create_app(_settings(book), migrate=False)) as base,
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
    ):
        yield client


def _batch(url: str) -> dict[int, tuple[float, str, list]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select lead_id, score, model_version, reason_codes from ml.lead_scores"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_every_online_score_equals_the_batch_score(api, book):
    batch = _batch(book["url"])
    assert len(batch) == N_LEADS
    ids = sorted(batch)
    online = {}
    for start in range(0, len(ids), 500):
        response = api.post("/v1/scores:batch", json={"lead_ids": ids[start : start + 500]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["not_scored"] == []
        online.update({s["lead_id"]: s for s in body["scores"]})
    assert online.keys() == batch.keys()
    worst = max(abs(online[i]["score"] - batch[i][0]) for i in ids)
    assert worst <= 1e-6, worst
    assert {s["model_version"] for s in online.values()} == {book["version"]}
    assert {batch[i][1] for i in ids} == {book["version"]}
    # Same contributions method as the batch (Saabas): the same reasons, in the same order.
    same = sum(
        [r["feature"] for r in online[i]["reasons"]] == [r["feature"] for r in batch[i][2]]
        for i in ids
    )
    assert same >= 0.99 * len(ids)
    # The last batch's deciles: each tenth of the book in its decile, give or take ties.
    counts = [sum(s["decile"] == d for s in online.values()) for d in range(1, 11)]
    assert all(abs(c - N_LEADS / 10) <= N_LEADS / 50 for c in counts), counts


def test_one_lead_score_names_its_version_and_reasons(api, book):
    batch = _batch(book["url"])
    lead_id = max(batch, key=lambda i: batch[i][0])  # the best lead has positive reasons
    response = api.get(f"/v1/leads/{lead_id}/score")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lead_id"] == lead_id
    assert abs(body["score"] - batch[lead_id][0]) <= 1e-6
    assert body["model_version"] == book["version"]
    assert response.headers["x-model-version"] == f"{MODEL_NAME}/{book['version']}"
    assert body["decile"] == 1
    assert 1 <= len(body["reasons"]) <= 3
    assert [r["text"] for r in body["reasons"]] == [r["text"] for r in batch[lead_id][2]]
    contributions = [r["contribution"] for r in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0


def test_the_warmed_worker_cache_answers_exactly_like_the_batch(book):
    """After start the newest leads' scores are precomputed in bulk; those answers equal the
    nightly batch and the uncached path."""
    with BackgroundServer(create_app(_settings(book), migrate=False)) as base:
        headers = {"X-API-Key": book["key"]}
        assert wait_for(
            lambda: httpx.get(f"{base}/health/ready").json()["score_cache_entries"] == N_LEADS, 60
        )
        batch = _batch(book["url"])
        before = httpx.get(f"{base}/metrics").text
        for lead_id in range(1, N_LEADS + 1, 7):
            body = httpx.get(f"{base}/v1/leads/{lead_id}/score", headers=headers).json()
            assert abs(body["score"] - batch[lead_id][0]) <= 1e-6
            assert [r["text"] for r in body["reasons"]] == [r["text"] for r in batch[lead_id][2]]
        uncached = httpx.post(f"{base}/v1/scores:batch", headers=headers,
                              json={"lead_ids": [8, 15]}).json()["scores"]  # fmt: skip
        for item in uncached:
            cached = httpx.get(f"{base}/v1/leads/{item['lead_id']}/score", headers=headers)
            assert cached.json() == item
            assert cached.headers["content-type"] == "application/json"
            assert cached.headers["x-model-version"] == f"{MODEL_NAME}/{book['version']}"
        # Cached answers still need a valid key (FastAPI's 401 for the rest).
        assert httpx.get(f"{base}/v1/leads/8/score").status_code == 401
        bad = httpx.get(f"{base}/v1/leads/8/score", headers={"X-API-Key": "hk_nope_nope"})
        assert bad.status_code == 401
        metrics = httpx.get(f"{base}/metrics").text
    answered = 'hk_http_request_duration_seconds_count{method="GET",route="/v1/leads/{lead_id}/score",status="200"}'
    assert metric_delta(metrics, before, answered) == len(range(1, N_LEADS + 1, 7)) + len(uncached)


def test_cached_answers_count_against_the_rate_limit(book):
    settings = _settings(book, rate_limit_per_minute=3)
    in_one_window = create_app(settings, migrate=False, rate_limit_clock=lambda: 1_800_000_040.0)
    with BackgroundServer(in_one_window) as base:
        assert wait_for(
            lambda: httpx.get(f"{base}/health/ready").json()["score_cache_entries"] == N_LEADS, 60
        )
        headers = {"X-API-Key": book["key"]}
        statuses = [
            httpx.get(f"{base}/v1/leads/{i}/score", headers=headers).status_code
            for i in (1, 2, 3, 4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = httpx.get(f"{base}/v1/leads/5/score", headers=headers)
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert "rate limit of 3 requests per minute" in refused.json()["detail"]


def test_unknown_and_unready_leads_say_why(api, book):
    assert api.get("/v1/leads/999999999/score").status_code == 404
    lead = {
        "source": "web_form", "external_id": "SCORE-409", "received_at": "2026-11-20T12:00:00Z",
        "first_name": "Ana", "last_name": "Reyes", "email": "ana.reyes@example.com",
        "property_street": "9 Elm St", "property_city": "Austin", "property_state": "TX",
        "property_zip": "78702",
    }  # fmt: skip
    with psycopg.connect(book["url"], autocommit=True) as conn:  # clear of the synthetic ids
        conn.execute("alter table app.leads alter column lead_id restart with 10000000")
    created = api.post("/v1/leads", json=lead)
    assert created.status_code == 201, created.text
    lead_id = created.json()["lead_id"]
    response = api.get(f"/v1/leads/{lead_id}/score")
    assert response.status_code == 409
    assert "not in the feature store yet" in response.json()["detail"]
    batch = api.post("/v1/scores:batch", json={"lead_ids": [lead_id, 1]}).json()
    assert [s["lead_id"] for s in batch["scores"]] == [1]
    assert [m["lead_id"] for m in batch["not_scored"]] == [lead_id]


def test_concurrent_uncached_requests_each_get_their_own_leads_batch_score(book):
    """Without the worker cache every GET reads and scores, and concurrent ones are read and
    scored together (serving/lead_scorer.py): each still gets its own lead's answer, equal to
    the nightly batch; unknown ids among them get their 404; the route (reached here through
    an id with a leading zero, which the fast path leaves to FastAPI) answers the same bytes."""
    settings = _settings(book, score_cache_size=0)
    batch = _batch(book["url"])
    lead_ids = [*range(1, N_LEADS + 1, 3), *range(2, 400, 5)]  # some twice
    unknown = [N_LEADS + 1000 + i for i in range(40)]
    wanted = lead_ids + unknown
    random.Random(6).shuffle(wanted)

    async def fetch_all(base: str) -> dict[int, list[httpx.Response]]:
        answers: dict[int, list[httpx.Response]] = {}
        limit = asyncio.Semaphore(16)
        headers = {"X-API-Key": book["key"]}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

            async def one(lead_id: int) -> None:
                async with limit:
                    response = await client.get(f"/v1/leads/{lead_id}/score")
                answers.setdefault(lead_id, []).append(response)

            await asyncio.gather(*(one(i) for i in wanted))
        return answers

    with BackgroundServer(create_app(settings, migrate=False)) as base:
        before = httpx.get(f"{base}/metrics").text  # counters are per process, tests share it
        answers = asyncio.run(fetch_all(base))
        headers = {"X-API-Key": book["key"]}
        with psycopg.connect(book["url"], autocommit=True) as conn:  # clear of the synthetic ids
            conn.execute("alter table app.leads alter column lead_id restart with 20000000")
        created = httpx.post(f"{base}/v1/leads", headers=headers, json={
            "source": "web_form", "external_id": "SCORE-409-ROUTE", "first_name": "Bo",
            "last_name": "Lee", "email": "bo.lee@example.com", "property_street": "1 Oak St",
            "property_city": "Austin", "property_state": "TX", "property_zip": "78702",
        })  # fmt: skip
        assert created.status_code == 201, created.text
        unready = created.json()["lead_id"]
        pairs = [
            (httpx.get(f"{base}/v1/leads/{i}/score", headers=headers),
             httpx.get(f"{base}/v1/leads/0{i}/score", headers=headers))
            for i in (7, unknown[0], unready)
        ]  # fmt: skip
        metrics = httpx.get(f"{base}/metrics").text
    for lead_id in lead_ids:
        for response in answers[lead_id]:
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["lead_id"] == lead_id
            assert abs(body["score"] - batch[lead_id][0]) <= 1e-6
            assert [r["text"] for r in body["reasons"]] == [r["text"] for r in batch[lead_id][2]]
            assert response.headers["x-model-version"] == f"{MODEL_NAME}/{book['version']}"
    for lead_id in unknown:
        assert [r.status_code for r in answers[lead_id]] == [404]
        assert answers[lead_id][0].json() == {"detail": f"no lead {lead_id}"}
    assert [fast.status_code for fast, _ in pairs] == [200, 404, 409]
    for fast, route in pairs:
        assert (fast.status_code, fast.content) == (route.status_code, route.content)
        for header in ("content-type", "x-model-version"):
            assert fast.headers.get(header) == route.headers.get(header)
    # Requests were read and scored together: fewer batches than leads.
    batches = metric_delta(metrics, before, "hk_score_batch_leads_count")
    assert 0 < batches < metric_delta(metrics, before, "hk_score_batch_leads_sum")
    served = f'hk_scores_served_total{{model_version="{book["version"]}",route="lead"}}'
    assert metric_delta(metrics, before, served) == len(lead_ids) + 2  # lead 7: fast path and route


def test_what_if_payload_is_scored_and_checked_against_the_signature(api, book):
    with psycopg.connect(book["url"]) as conn:
        conn.row_factory = psycopg.rows.dict_row
        row = conn.execute("select * from marts.lead_features where lead_id = 7").fetchone()
    features = {k: (float(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, bool)
                    else v) for k, v in row.items()
                if k not in ("lead_id", "external_id", "received_at", "received_date")}  # fmt: skip
    scored = api.post("/v1/score", json={"features": features})
    assert scored.status_code == 200, scored.text
    assert abs(scored.json()["score"] - _batch(book["url"])[7][0]) <= 1e-6
    assert scored.json()["lead_id"] is None
    changed = {**features, "equity_ratio": 0.99, "is_in_foreclosure": True}
    assert api.post("/v1/score", json={"features": changed}).status_code == 200
    numeric = [f.name for f in FEATURES if f.kind == "numeric"]
    for extreme in (1.7e308, -1.7e308, 0, 10**30):
        body = {"features": {**features, **dict.fromkeys(numeric, extreme)}}
        response = api.post("/v1/score", json=body)
        assert response.status_code == 200, response.text
        assert 0 <= response.json()["score"] <= 1

    wrong = {k: v for k, v in features.items() if k != "equity_ratio"}
    wrong["shoe_size"] = 11
    wrong["bedrooms"] = "three"
    response = api.post("/v1/score", json={"features": wrong})
    assert response.status_code == 422
    named = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert "missing feature 'equity_ratio'" in named[("body", "features", "equity_ratio")]
    assert "unknown feature 'shoe_size'" in named[("body", "features", "shoe_size")]
    assert "must be a number" in named[("body", "features", "bedrooms")]


def test_batch_limits_and_authentication(api, book):
    too_many = list(range(1, 502))
    response = api.post("/v1/scores:batch", json={"lead_ids": too_many})
    assert response.status_code == 422
    assert "at most 500" in response.text
    assert api.post("/v1/scores:batch", json={"lead_ids": []}).status_code == 422
    assert httpx.get(f"{api.base_url}/v1/leads/1/score").status_code == 401
    # A real prefix with a wrong secret, after the real key was used (its prefix is cached):
    # refused on the fast path (a lead's score) and through the routes.
    assert api.get("/v1/leads/1/score").status_code == 200
    forged = {"X-API-Key": f"hk_{book['key'][3:11]}_{'A' * 43}"}
    for method, path in (("GET", "/v1/leads/1/score"), ("POST", "/v1/scores:batch")):
        refused = httpx.request(method, f"{api.base_url}{path}", json={"lead_ids": [1]},
                                headers=forged)  # fmt: skip
        assert refused.status_code == 401, (path, refused.text)
    assert httpx.post(f"{api.base_url}/v1/score", json={"features": {}}).status_code == 401


def test_ready_and_metrics_describe_the_model(book):
    from prometheus_client import generate_latest

    before = generate_latest().decode()  # this process's registry: the API runs in it
    with BackgroundServer(create_app(_settings(book), migrate=False)) as base:
        ready = httpx.get(f"{base}/health/ready").json()
        assert httpx.get(f"{base}/v1/leads/3/score", headers={"X-API-Key": book["key"]}).is_success
        metrics = httpx.get(f"{base}/metrics").text
    assert ready["status"] == "ok"
    assert ready["model"]["status"] == "ok"
    assert ready["model"]["version"] == book["version"]
    assert ready["model"]["source"] == "registry"
    served = f'hk_scores_served_total{{model_version="{book["version"]}",route="lead"}}'
    assert metric_delta(metrics, before, served) == 1
    loaded = 'hk_model_load_events_total{outcome="loaded",source="registry"}'
    assert metric_delta(metrics, before, loaded) == 1
    assert (
        f'hk_model_info{{model_name="{MODEL_NAME}",model_version="{book["version"]}"}} 1.0'
        in metrics
    )
    latency = 'hk_http_request_duration_seconds_count{method="GET",route="/v1/leads/{lead_id}/score",status="200"}'
    assert metric_delta(metrics, before, latency) == 1  # the latency histogram, per route


_FLIP = (
    "update marts.lead_features set is_in_foreclosure = not coalesce(is_in_foreclosure, false), "
    "equity_ratio = 1 - coalesce(equity_ratio, 0) where lead_id = %s"
)


@pytest.mark.parametrize("layer", ["redis", "process"])
def test_caches_serve_repeats_and_are_invalidated_by_rebuilds(book, layer):
    """Redis (shared feature rows, its generation read with every lookup) and each worker's
    score cache (ml.feature_generation, polled): a rebuild is seen, a stale row is not kept."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    lead_id = 11 if layer == "redis" else 13
    if layer == "redis":
        settings = _settings(book, redis_url=REDIS_URL, score_cache_size=0)
    else:
        settings = _settings(book)
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        headers = {"X-API-Key": book["key"]}
        url = f"{base}/v1/leads/{lead_id}/score"
        first = httpx.get(url, headers=headers).json()
        before = httpx.get(f"{base}/metrics").text
        assert client.exists(f"hk:lead_features:{lead_id}") == (layer == "redis")
        with psycopg.connect(book["url"], autocommit=True) as conn:
            conn.execute(_FLIP, (lead_id,))
        try:
            assert httpx.get(url, headers=headers).json()["score"] == first["score"]  # cached
            invalidate(settings, "test rebuild")
            if layer == "redis":  # the next lookup already sees the new generation
                assert httpx.get(url, headers=headers).json()["score"] != first["score"]
            else:  # within a few polls of ml.feature_generation
                assert wait_for(
                    lambda: httpx.get(url, headers=headers).json()["score"] != first["score"], 10
                )
            metrics = httpx.get(f"{base}/metrics").text
            counter = "hk_feature_cache" if layer == "redis" else "hk_score_cache"
            hits = metric_delta(metrics, before, f'{counter}_requests_total{{result="hit"}}')
            assert hits >= 1
        finally:
            with psycopg.connect(book["url"], autocommit=True) as conn:
                conn.execute(_FLIP, (lead_id,))
            invalidate(settings, "test restored")
            client.flushdb()


def test_a_promotion_under_load_fails_no_request(book):
    """A stream of requests while a new champion is promoted: every one answered, by one
    version or the other, and the new version takes over without a restart."""
    old = book["version"]
    with BackgroundServer(create_app(_settings(book), migrate=False)) as base:
        seen: dict[str, int] = {}
        failures: list[str] = []
        stop = threading.Event()

        async def stream() -> None:
            async with httpx.AsyncClient(
                base_url=base, headers={"X-API-Key": book["key"]}, timeout=30
            ) as client:

                async def worker(offset: int) -> None:
                    i = offset
                    while not stop.is_set():
                        i = i % N_LEADS + 1
                        try:
                            r = await client.get(f"/v1/leads/{i}/score")
                        except httpx.HTTPError as error:
                            failures.append(repr(error))
                            continue
                        if r.status_code != 200:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                        else:
                            version = r.json()["model_version"]
                            seen[version] = seen.get(version, 0) + 1

                await asyncio.gather(*(worker(k * 97) for k in range(8)))

        thread = threading.Thread(target=asyncio.run, args=(stream(),))
        thread.start()
        try:
            new = _train(book["url"], book["uri"], book["artifacts"], max_depth=2, seed=5)
            _promote(book["uri"], new)
            deadline = time.monotonic() + 60
            while seen.get(new, 0) < 50 and time.monotonic() < deadline and thread.is_alive():
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(timeout=60)
            _promote(book["uri"], old)
    assert failures == []
    assert seen.get(old, 0) > 0 and seen.get(new, 0) >= 50, seen


def _proxied_uri(book, proxy: TcpProxy) -> str:
    params = conninfo_to_dict(book["uri"].replace("postgresql+psycopg2://", "postgresql://"))
    user = params.get("user", "postgres")
    return with_driver(f"postgresql://{user}@127.0.0.1:{proxy.port}/{params['dbname']}", "psycopg2")


def test_mlflow_down_keeps_scoring_and_readiness_says_degraded(book, tmp_path):
    proxy = TcpProxy.to_postgres(conninfo_to_dict(book["url"])).start()
    settings = _settings(
        book, mlflow_tracking_uri=_proxied_uri(book, proxy), model_cache_dir=tmp_path / "models",
        model_load_timeout_seconds=10,
    )  # fmt: skip
    headers = {"X-API-Key": book["key"]}
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        assert httpx.get(f"{base}/health/ready").json()["model"]["status"] == "ok"
        before = httpx.get(f"{base}/v1/leads/5/score", headers=headers).json()
        proxy.stop()  # MLflow's store is gone
        assert wait_for(lambda: httpx.get(f"{base}/health/ready").json()["status"] == "degraded")
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 200 and ready.json()["model"]["problem"]
        during = httpx.get(f"{base}/v1/leads/5/score", headers=headers)
        assert during.status_code == 200
        assert during.json() == before
    # A restart while MLflow is still down starts from the local copy of the model.
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        ready = httpx.get(f"{base}/health/ready").json()
        assert ready["status"] == "degraded"
        assert ready["model"]["source"] == "cache"
        assert ready["model"]["version"] == book["version"]
        again = httpx.get(f"{base}/v1/leads/5/score", headers=headers)
        assert again.status_code == 200 and again.json()["score"] == before["score"]
        # MLflow is back: the next poll clears the degraded state.
        proxy.start()  # on the same port
        assert wait_for(lambda: httpx.get(f"{base}/health/ready").json()["status"] == "ok")


def test_postgres_down_scores_are_503_never_500_and_recover(book):
    """The feature store (Postgres) unreachable under a running API with a model loaded: the
    fast path, the route and the batch say 503 and why; the pool reconnects by itself."""
    proxy = TcpProxy.to_postgres(conninfo_to_dict(book["url"])).start()
    settings = _settings(
        book, database_url=proxied_postgres_url(book["url"], proxy), mlflow_tracking_uri=book["uri"],
        score_cache_size=0, db_pool_timeout_seconds=1.0,
    )  # fmt: skip
    headers = {"X-API-Key": book["key"]}
    try:
        with BackgroundServer(create_app(settings, migrate=False)) as base:
            before = httpx.get(f"{base}/v1/leads/5/score", headers=headers)
            assert before.status_code == 200  # and the key is in the key cache
            proxy.stop()
            answers = [
                httpx.get(f"{base}/v1/leads/6/score", headers=headers, timeout=30),  # fast path
                httpx.get(f"{base}/v1/leads/6/score", headers=headers, timeout=30),  # no connection
                httpx.get(f"{base}/v1/leads/06/score", headers=headers, timeout=30),  # the route
                httpx.post(f"{base}/v1/scores:batch", json={"lead_ids": [6, 7]}, headers=headers,
                           timeout=30),
            ]  # fmt: skip
            for answer in answers:
                assert answer.status_code == 503, (answer.url, answer.text)
                assert "database is unavailable" in answer.json()["detail"]
                assert int(answer.headers["retry-after"]) > 0
            assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 503
            proxy.start()
            assert wait_for(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 60)
            after = httpx.get(f"{base}/v1/leads/5/score", headers=headers)
            assert after.status_code == 200 and after.json() == before.json()
    finally:
        proxy.close()


def test_redis_down_scores_come_from_postgres(book):
    """Redis configured (feature cache, rate limit) and then gone: every score still answers,
    the same as before, and the feature cache counts the errors it fell back on."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    parts = urlsplit(REDIS_URL)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    settings = _settings(
        book, redis_url=f"redis://127.0.0.1:{proxy.port}{parts.path}", score_cache_size=0
    )
    headers = {"X-API-Key": book["key"]}
    try:
        with BackgroundServer(create_app(settings, migrate=False)) as base:
            cached = httpx.get(f"{base}/v1/leads/21/score", headers=headers)
            assert cached.status_code == 200
            before = httpx.get(f"{base}/metrics").text
            proxy.stop()
            during = httpx.get(f"{base}/v1/leads/21/score", headers=headers)
            assert during.status_code == 200 and during.json() == cached.json()
            batch = httpx.post(f"{base}/v1/scores:batch", json={"lead_ids": [21, 22]},
                               headers=headers)  # fmt: skip
            assert batch.status_code == 200 and len(batch.json()["scores"]) == 2
            metrics = httpx.get(f"{base}/metrics").text
    finally:
        proxy.close()
    errors = 'hk_feature_cache_requests_total{result="error"}'
    assert metric_delta(metrics, before, errors) == 3  # one lead, then two


def test_without_any_model_the_scoring_routes_say_so(book, tmp_path):
    with refused_port() as port:
        settings = _settings(
            book, mlflow_tracking_uri=f"postgresql+psycopg2://postgres@127.0.0.1:{port}/nothing",
            model_cache_dir=tmp_path / "empty", model_load_timeout_seconds=10,
        )  # fmt: skip
        with BackgroundServer(create_app(settings, migrate=False)) as base:
            ready = httpx.get(f"{base}/health/ready").json()
            assert ready["status"] == "degraded" and ready["model"]["version"] is None
            response = httpx.get(f"{base}/v1/leads/5/score", headers={"X-API-Key": book["key"]})
            assert response.status_code == 503
            assert "no model to score with" in response.json()["detail"]


def test_tracing_is_on_only_when_configured():
    assert not tracing_configured({})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_configured({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_configured({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}
    )


def test_schemathesis_finds_no_server_error_in_the_scoring_routes(api, book, tmp_path):
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    result = subprocess.run(
        [
            SCHEMATHESIS, "run", f"{api.base_url}/openapi.json",
            "--header", f"X-API-Key: {book['key']}",
            "--include-path-regex", "score",
            "--max-examples", "60",
            "--checks", checks,
            "--seed", "20261126",
            "--suppress-health-check", "all",
        ],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "3 selected" in result.stdout and "No issues found" in result.stdout


def test_requests_and_database_calls_are_traced_when_otel_is_configured(book, tmp_path):
    """`hk serve` with the standard OTEL variables (console exporter): spans come out."""
    env = dict(os.environ, HK_DATABASE_URL=book["url"], HK_HOME=str(book["home"]),
               HK_LOG_LEVEL="WARNING", OTEL_TRACES_EXPORTER="console",
               OTEL_BSP_SCHEDULE_DELAY="50", OTEL_SERVICE_NAME="hk-api-test")  # fmt: skip
    hk = str(Path(sys.executable).with_name("hk"))
    out = tmp_path / "serve.out"
    with out.open("w") as sink:
        server = subprocess.Popen([hk, "serve", "--port", "0"], env=env, stdout=sink,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{served_port(out, server)}"
        assert wait_for(lambda: _answers(f"{base}/health/ready"), 120), out.read_text()[-3000:]
        response = httpx.get(f"{base}/v1/leads/2/score", headers={"X-API-Key": book["key"]})
        assert response.status_code == 200
        assert wait_for(lambda: "/v1/leads/{lead_id}/score" in out.read_text(), 30)
    finally:
        server.terminate()
        server.wait(timeout=30)
    spans = out.read_text()
    assert '"name": "GET /v1/leads/{lead_id}/score"' in spans
    assert '"db.system": "postgresql"' in spans or '"db.system.name": "postgresql"' in spans
    assert '"service.name": "hk-api-test"' in spans


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_online_score_crossing_a_watched_threshold_is_an_automation_event(book):
    batch = _batch(book["url"])
    lead_id = max(batch, key=lambda i: batch[i][0])
    threshold = batch[lead_id][0] / 2
    with psycopg.connect(book["url"], autocommit=True) as conn:
        # Nightly marked every score already; pretend this lead's last score was low.
        assert conn.execute(
            "select source from app.score_marks where lead_id = %s", (lead_id,)
        ).fetchone() == ("nightly",)
        conn.execute("update app.score_marks set score = 0 where lead_id = %s", (lead_id,))
        # This book has marts only; automation events belong to a lead of app.leads.
        conn.execute(
            "insert into app.leads (lead_id, dedup_key, source, received_at, property_street, "
            "intake_channel) overriding system value values (%s, 'ext:t:online', 'test', now(), "
            "'1 Elm St', 'api') on conflict do nothing",
            (lead_id,),
        )
        conn.execute(
            "insert into app.score_thresholds values (%s) on conflict do nothing", (threshold,)
        )
        conn.execute("delete from app.automation_events where kind = 'score_crossed'")
        headers = {"X-API-Key": book["key"]}
        settings = _settings(book, score_cache_size=0, score_cache_warm=False)
        with BackgroundServer(create_app(settings, migrate=False)) as base:
            assert httpx.get(f"{base}/v1/leads/{lead_id}/score", headers=headers).status_code == 200

            def marked() -> bool:
                row = conn.execute(
                    "select source, score from app.score_marks where lead_id = %s", (lead_id,)
                ).fetchone()
                return row[0] == "online" and abs(row[1] - batch[lead_id][0]) <= 1e-6

            assert wait_for(marked, 30)
        events = conn.execute(
            "select payload from app.automation_events where kind = 'score_crossed' and lead_id = %s",
            (lead_id,),
        ).fetchall()
        conn.execute("delete from app.score_thresholds")
    assert len(events) == 1 and events[0][0]["source"] == "online" and events[0][0]["previous"] == 0
