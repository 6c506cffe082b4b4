"""Online scoring: wrk on GET /v1/leads/{id}/score against GET /health/live, same server.

    uv run python benchmarks/bench_scoring.py [--leads 100000] [--duration 15s] [--connections 8]
        [--only nocache,redis] [--home DIR --keep-db] [--reuse DIR]

Builds database `hk_bench_serve` with a synthetic book of N leads as marts.lead_features
(primary key on lead_id, as the dbt contract makes it), trains the production model on its
training set, registers and promotes it in MLflow's database store, runs the nightly
rescoring (the deciles), then, one uvicorn worker each:
  1. `hk serve` with no cache: wrk on /health/live, then on random lead ids' scores
     (every request reads Postgres and scores);
  2. the default configuration: each worker's score cache, measured once it is warm;
  3. HK_REDIS_URL with the worker cache off, two passes; then both caches, warm;
  3. the naive handler (benchmarks/naive_score_app.py: pandas + the MLflow pyfunc);
  4. `mlflow models serve` of the same version, one row per request (POST /invocations).
Prints one table; drops the database unless --keep-db. ``--only`` runs some configurations
(``live`` always runs: it is the reference); ``--home DIR --keep-db`` keeps the book and its
model, and ``--reuse DIR`` measures against them again without rebuilding (development only:
the recorded numbers come from a full run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_api import parse_wrk, stop, wait_ready
from common import HK, REPO, database_url, drop_database, fresh_database, hk, machine, require

HERE = Path(__file__).resolve().parent
DB = "hk_bench_serve"
TARGET_RATIO = 0.6
TARGET_P99_MS = 10.0
CONFIGURATIONS = ("nocache", "warm", "redis", "redis-warm", "naive", "mlflow")


def build_book(n: int, home: Path) -> tuple[str, str]:
    """Marts, a champion and last night's scores; returns (tracking uri, version)."""
    import psycopg

    from hk_core.settings import Settings
    from ml.data import write_arrow
    from ml.registry import (
        CHAMPION,
        MODEL_NAME,
        artifact_root,
        configure,
        load_champion,
        tracking_uri,
    )
    from ml.scoring import rescore
    from ml.synthetic import synthetic_feature_table
    from ml.workflow import load_training_set, train_and_register

    url = database_url(DB)
    book = synthetic_feature_table(n, 7)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        write_arrow(conn, book, "marts.lead_training_set", create=True)
        features = book.drop_columns(["is_converted"])
        write_arrow(conn, features, "marts.lead_features", create=True)
        conn.execute("alter table marts.lead_features add primary key (lead_id)")
        conn.execute("analyze marts.lead_features")
    settings = Settings(database_url=url, home=home)
    uri = tracking_uri(settings)
    result = train_and_register(load_training_set(url), uri=uri, artifacts=artifact_root(settings))
    configure(uri).set_registered_model_alias(MODEL_NAME, CHAMPION, result.logged.version)
    champion = load_champion(uri)
    assert champion is not None
    rescore(url, champion, features_sql="marts.lead_features", approximate_reasons=True)
    return uri, result.logged.version


def wrk(args: argparse.Namespace, *target: str) -> dict:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}",
               "--latency", *target]  # fmt: skip
    print("$", " ".join(command), flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def serve(
    command: list[str], env: dict[str, str], port: int, log: Path, ready: str = "/health/ready"
) -> subprocess.Popen:
    with log.open("a") as out:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}", server, timeout=300, path=ready)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--duration", default="15s")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--only", default=",".join(CONFIGURATIONS),
                        help=f"comma-separated, of {', '.join(CONFIGURATIONS)}")  # fmt: skip
    parser.add_argument("--home", type=Path, help="scratch directory to keep (with --keep-db)")
    parser.add_argument("--reuse", type=Path, help="the --home of a kept book: skip building")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(CONFIGURATIONS):
        parser.error(f"unknown configurations: {', '.join(sorted(only - set(CONFIGURATIONS)))}")
    require("wrk", "psql", "redis-cli")
    print("machine:", machine(), flush=True)
    scratch = args.reuse or args.home or Path(tempfile.mkdtemp(prefix="hk-bench-serve-"))
    scratch.mkdir(parents=True, exist_ok=True)
    if args.reuse is None:
        fresh_database(DB)
    env = dict(os.environ, HK_DATABASE_URL=database_url(DB), HK_HOME=str(scratch / "home"),
               HK_RATE_LIMIT_PER_MINUTE="1000000000", HK_LOG_LEVEL="WARNING",
               DAGSTER_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1")  # fmt: skip
    hk("db", "upgrade", env=env)
    key = hk("api-keys", "create", "bench", env=env).strip().splitlines()[-1]
    built = scratch / "book.json"
    if args.reuse is None:
        print(f"building a {args.leads:,}-lead book, training and rescoring …", flush=True)
        uri, version = build_book(args.leads, scratch / "home")
        built.write_text(json.dumps({"uri": uri, "version": version, "leads": args.leads}))
    else:
        kept = json.loads(built.read_text())
        uri, version, args.leads = kept["uri"], kept["version"], kept["leads"]
    print(f"champion: lead_conversion v{version}", flush=True)
    base = f"http://127.0.0.1:{args.port}"
    score = ["-s", str(HERE / "get_score.lua"), base, "--", key, str(args.leads)]
    log = scratch / "servers.log"
    rows: list[tuple[str, dict]] = []
    hk_serve = [HK, "serve", "--port", str(args.port)]
    live_target = (f"{base}/health/live",)
    flush = ["redis-cli", "-u", args.redis_url, "flushdb"]

    def hk_phase(extra: dict[str, str], runs: list[tuple[str, tuple[str, ...]]]) -> None:
        subprocess.run(flush, check=True, capture_output=True)
        server = serve(hk_serve, {**env, **extra}, args.port, log)
        if extra.get("HK_SCORE_CACHE_SIZE") != "0":
            started = time.monotonic()
            while _cached(base) < args.leads and time.monotonic() - started < 300:
                time.sleep(0.5)
            print(f"worker cache warm: {_cached(base):,} leads after "
                  f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        try:
            for name, target in runs:
                rows.append((name, wrk(args, *target)))
        finally:
            stop(server)

    try:
        no_cache = {"HK_SCORE_CACHE_SIZE": "0"}
        runs = [("GET /health/live", live_target)]
        if "nocache" in only:
            runs.append(("score, no cache (Postgres)", tuple(score)))
        hk_phase(no_cache, runs)
        if "warm" in only:
            hk_phase({}, [("score, worker cache (warmed)", tuple(score))])
        redis = {**no_cache, "HK_REDIS_URL": args.redis_url}
        if "redis" in only:
            hk_phase(redis, [("score, Redis only, 1st pass", tuple(score)),
                             ("score, Redis only, 2nd pass", tuple(score))])  # fmt: skip
        if "redis-warm" in only:
            hk_phase({"HK_REDIS_URL": args.redis_url},
                     [("score, Redis + worker cache (warmed)", tuple(score))])  # fmt: skip
        if "naive" in only:
            naive = [str(Path(sys.executable).with_name("uvicorn")), "naive_score_app:app",
                     "--app-dir", str(HERE), "--port", str(args.port), "--log-level", "warning"]  # fmt: skip
            server = serve(naive, {**env, "MLFLOW_TRACKING_URI": uri}, args.port, log)
            try:
                naive_target = ["-s", str(HERE / "get_score.lua"), base, "--", key,
                                str(args.leads)]  # fmt: skip
                rows.append(("naive: pandas + pyfunc", wrk(args, *naive_target)))
            finally:
                stop(server)
        if "mlflow" in only:
            body = scratch / "invocation.json"
            body.write_text(json.dumps({"dataframe_records": [_one_row()]}))
            mlflow_cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve",
                          "-m", "models:/lead_conversion@champion", "--env-manager", "local",
                          "-p", str(args.port), "-w", "1"]  # fmt: skip
            server = serve(mlflow_cmd, {**env, "MLFLOW_TRACKING_URI": uri}, args.port, log,
                           "/ping")  # fmt: skip
            try:
                invocation = ["-s", str(HERE / "post_invocation.lua"), base, "--", str(body)]
                rows.append(("mlflow models serve, 1 row", wrk(args, *invocation)))
            finally:
                stop(server)
    finally:
        if not (args.keep_db or args.reuse):
            drop_database(DB)
    live = rows[0][1]["rps"]
    print(f"\n{'':38} {'req/s':>9} {'÷ live':>7} {'p50 ms':>7} {'p99 ms':>7}  non-2xx")
    for name, run in rows:
        print(f"{name:38} {run['rps']:9.0f} {run['rps'] / live:7.2f} {run['p50_ms']:7.2f} "
              f"{run['p99_ms']:7.2f}  {run['non_2xx']}  {run['first_error'][:80]}")  # fmt: skip
    print(f"targets: score ÷ live >= {TARGET_RATIO}, p99 <= {TARGET_P99_MS} ms at -c8")
    print(f"server logs: {log}")
    return 0


def _cached(base: str) -> int:
    with urllib.request.urlopen(f"{base}/health/ready", timeout=5) as response:
        return int(json.loads(response.read()).get("score_cache_entries") or 0)


def _one_row() -> dict:
    import psycopg
    from psycopg.rows import dict_row

    from hk_core.features import FEATURE_NAMES

    with psycopg.connect(database_url(DB), row_factory=dict_row) as conn:
        row = conn.execute("select * from marts.lead_features where lead_id = 1").fetchone()
    assert row is not None
    return {name: row[name] for name in FEATURE_NAMES}


if __name__ == "__main__":
    sys.exit(main())
