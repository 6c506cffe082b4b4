"""Postgres restarted under a stream of lead POSTs: 201/200 or 503 with Retry-After, never a
500 or a dropped connection, every 2xx stored, and the API serving again by itself.

The API is `hk serve --workers 2` in a subprocess, as it runs in production: two processes,
each with its own pool, started by the real entry point. The database is a private server
(tests/pg_private.py) restarted for real with `pg_ctl`, fast (the server ends each session
with an AdminShutdown error) and immediate (backends killed, crash recovery on start), held
down until the API noticed and restarted in one go. Stage moves join the run as one more
RequestMaker in tests/restart_harness.py.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from helpers import served_port, wait_for
from pg_private import PrivatePostgres, private_postgres
from restart_harness import (
    Committed,
    Outcome,
    PlannedRequest,
    RequestMaker,
    Restart,
    run_through_restarts,
    uncommitted,
)

from hk_core.apikeys import create_api_key
from hk_core.migrate import upgrade

HK = str(Path(sys.executable).with_name("hk"))
# The server imports the code beside these tests, also from a scratch copy (tests/mutations.py).
REPOSITORY = Path(__file__).resolve().parents[1]
DATABASE = "hk_restart"
RESTARTS = [
    Restart("fast", held=True),
    Restart("immediate", held=True),
    Restart("fast"),
    Restart("immediate"),
]


def _lead(tag: str) -> dict:
    return {"source": "restart", "external_id": tag, "property_street": "9 Elm St",
            "property_zip": "78702", "email": f"{tag.lower()}@example.com"}  # fmt: skip


def _lead_committed(plan: PlannedRequest, response: httpx.Response) -> list[Committed]:
    return [Committed("app.leads", "lead_id", response.json()["lead_id"])]


def _one_lead(plan_tag: str) -> PlannedRequest:
    return PlannedRequest("POST", "/v1/leads", {"json": _lead(plan_tag)})


def _one_lead_with_key(plan_tag: str) -> PlannedRequest:
    headers = {"Idempotency-Key": plan_tag}
    return PlannedRequest("POST", "/v1/leads", {"json": _lead(plan_tag), "headers": headers})


BULK_ROWS = 3


def _bulk(plan_tag: str) -> PlannedRequest:
    lines = ["external_id,source,email,property_street,property_zip"]
    lines += [f"{plan_tag}-{i},restart,b{i}@example.com,{i} Oak St,78701" for i in range(BULK_ROWS)]
    body = ("\n".join(lines) + "\n").encode()
    return PlannedRequest(
        "POST", "/v1/leads/bulk", {"content": body, "headers": {"content-type": "text/csv"}}
    )


def _bulk_committed(plan: PlannedRequest, response: httpx.Response) -> list[Committed]:
    # Every row is valid, so a 2xx promises all of them (stored now or earlier).
    tags = [line.split(",")[0] for line in plan.options["content"].decode().splitlines()[1:]]
    return [Committed("app.leads", "external_id", tag) for tag in tags]


# Stage moves, each of a lead of its own (new → contacted): a 200 promises the lead's stage
# event, and a request sent again after a 503 is a 200 either way (moved now, or already).
STAGE_LEADS = 20_000
_stage_leads = itertools.count(1)
_stage_lock = threading.Lock()


def _stage_move(plan_tag: str) -> PlannedRequest:
    with _stage_lock:
        lead_id = next(_stage_leads)
    return PlannedRequest("POST", f"/v1/leads/{lead_id}/stage", {"json": {"stage": "contacted"}})


def _stage_committed(plan: PlannedRequest, response: httpx.Response) -> list[Committed]:
    body = response.json()
    assert body["stage"] == "contacted"
    return [Committed("app.stage_events", "lead_id", body["lead_id"])]


STAGE_MAKER = RequestMaker("stage", _stage_move, _stage_committed)

LEAD_MAKERS = [
    RequestMaker("lead", _one_lead, _lead_committed),
    RequestMaker("keyed", _one_lead_with_key, _lead_committed, retry_refused=True),
    RequestMaker("bulk", _bulk, _bulk_committed, retry_refused=True),
]


@pytest.fixture(scope="module")
def restartable_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        upgrade(server.url(DATABASE))
        yield server


@pytest.fixture(scope="module")
def served_api(restartable_postgres, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`hk serve --workers 2` on the private server; (base URL, its log)."""
    log = tmp_path_factory.mktemp("restart") / "serve.log"
    env = dict(
        os.environ, HK_DATABASE_URL=restartable_postgres.url(DATABASE),
        HK_SCORING_ENABLED="false", HK_DB_POOL_TIMEOUT_SECONDS="1", HK_DB_POOL_MAX_SIZE="4",
        HK_HOME=str(log.parent),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
    )  # fmt: skip
    env.pop("HK_REDIS_URL", None)
    with log.open("w") as sink:
        server = subprocess.Popen(
            [HK, "serve", "--port", "0", "--workers", "2"], env=env, stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{served_port(log, server)}"
        assert wait_for(lambda: _ready(base), 120), log.read_text()[-3000:]
        yield base, log
    finally:
        server.terminate()
        server.wait(timeout=60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _problems(outcomes: list[Outcome]) -> list[Outcome]:
    """Answers a client must never get: a 5xx other than 503, any other unexpected status, a
    connection the API dropped or refused, a 503 without Retry-After."""
    return [o for o in outcomes if not _acceptable(o)]


def _acceptable(outcome: Outcome) -> bool:
    if outcome.status == 503:
        return (outcome.retry_after or "").isdigit() and int(outcome.retry_after or 0) > 0
    return outcome.status in (200, 201)


def _refused_for_a_dead_connection(outcome: Outcome) -> bool:
    return outcome.status == 503 and "PoolTimeout" not in outcome.excerpt


def test_postgres_restarts_under_lead_posts_and_stage_moves_are_503_or_stored_never_500(
    restartable_postgres, served_api
):
    base, log = served_api
    url = restartable_postgres.url(DATABASE)
    with psycopg.connect(url, autocommit=True) as conn:
        _, token = create_api_key(conn, "restart")
        first = conn.execute("select coalesce(max(lead_id), 0) + 1 from app.leads").fetchone()[0]
        conn.execute(
            "insert into app.leads (dedup_key, source, received_at, property_street, "
            "intake_channel) select 'ext:stage:' || g, 'restart', now(), '1 Elm St', 'cli' "
            "from generate_series(1, %s) as g",
            (STAGE_LEADS,),
        )
    global _stage_leads
    _stage_leads = itertools.count(first)
    run = run_through_restarts(
        base, {"X-API-Key": token}, [*LEAD_MAKERS, STAGE_MAKER], restartable_postgres, RESTARTS
    )
    outcomes = run.outcomes
    problems = _problems(outcomes)
    assert not problems, (problems[:10], log.read_text(errors="replace")[-4000:])
    # The held restarts were seen by the API (503s, checked above) before the server came
    # back, and after every restart each kind of request was served again by the same API.
    held = [i for i, restart in enumerate(RESTARTS) if restart.held]
    assert all(run.answered_while_down[i] for i in held), run.answered_while_down
    assert any(outcome.status == 503 for outcome in outcomes)
    assert run.recovered == [True] * len(RESTARTS), (run.recovered, outcomes[-10:])
    # Once the server is back, a connection that died in the restart is not handed to a
    # request: a 503 then may only say the pool is still reconnecting (PoolTimeout).
    stale = [o for o in outcomes if o.server_up_throughout and _refused_for_a_dead_connection(o)]
    assert not stale, stale[:10]
    assert uncommitted(url, outcomes) == []
    with psycopg.connect(url) as conn:
        counts = conn.execute("select count(*) from app.leads").fetchone()
    assert counts is not None and counts[0] > 0
    assert [o for o in outcomes if o.maker == "stage" and o.succeeded]


# Slow (run with -m slow) until a flake is understood: once in seven runs on 2026-12-03 both cases
# failed in one run with the API's port resetting and then refusing connections, while the
# API's log showed both workers up until the module's teardown. Not reproduced in six reruns.
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_after_a_restart_the_first_leads_to_an_idle_api_are_stored(
    restartable_postgres, served_api, mode
):
    """No load to use up the pool's dead connections: the next requests must not get them."""
    base, _ = served_api
    with psycopg.connect(restartable_postgres.url(DATABASE), autocommit=True) as conn:
        _, token = create_api_key(conn, f"idle {mode}")
    headers = {"X-API-Key": token}

    def post(tag: str) -> httpx.Response:
        # A connection each: the kernel hands them to either worker, so both pools are used.
        return httpx.post(f"{base}/v1/leads", json=_lead(tag), headers=headers, timeout=60)

    def stored(tag: str) -> httpx.Response:
        # Before the restart: the previous test's last restart may still be settling on a busy
        # machine, so a PoolTimeout 503 is waited out here (never any other answer).
        for attempt in range(100):
            response = post(f"{tag}-{attempt}")
            if response.status_code == 201:
                return response
            assert response.status_code == 503 and "PoolTimeout" in response.text, response.text
            time.sleep(0.2)
        raise AssertionError(f"{tag}: no 201 in 100 attempts")

    warm = [stored(f"warm-{mode}-{n}") for n in range(8)]
    assert {r.status_code for r in warm} == {201}
    restartable_postgres.restart(mode)
    after = [post(f"idle-{mode}-{n}") for n in range(8)]
    # A PoolTimeout (the pool still opening its new connection on a busy machine) is an honest
    # 503; a dead connection handed to the request is not.
    answers = [(r.status_code, r.text) for r in after]
    assert all(s == 201 or (s == 503 and "PoolTimeout" in t) for s, t in answers), answers
    assert any(s == 201 for s, _ in answers), answers
