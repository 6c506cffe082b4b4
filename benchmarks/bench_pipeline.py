"""The pipeline's fixed cost: `hk pipeline run` on a demo book, run by run, against Dagster's
own floor and dbt's start-up, in the same run.

    uv run python benchmarks/bench_pipeline.py [--leads 20000] [--seed 5] [--floor-assets 1 6]

Creates a fresh database `hk_bench_pipeline` and a fresh HK_HOME, generates a book
(`hk generate`), imports the county roll, the leads and the stage events, then times:

1. `hk pipeline run` (wall clock), and each Dagster run inside it from the instance's run
   records (start to end), with the number of days each covered;
2. the Dagster floor: a no-op daily-partitioned asset (the pipeline's partitions and
   single-run backfill policy) materialised over the same day range in one run on the same
   instance storage, once per count in `--floor-assets` (the bookkeeping grows with assets ×
   days); the no-op assets return at once, so what is timed is Dagster's own work;
3. the dbt floor: `hk dbt run --select stg_lead_scores` (start-up, partial parse, connect,
   one view), twice.

What the platform adds above the floors is the pipeline's runs minus (floors + the assets' own
work); the assets' own work is read from the step durations of the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import HK, REPO, bench_env, database_url, drop_database, fresh_database, machine

DB = "hk_bench_pipeline"

# Runs in a child process with the benchmark's environment: Dagster's instance is the one
# `hk pipeline run` used (same DAGSTER_HOME, same Postgres storage).
_FLOOR = r"""
import json, sys, time
from datetime import date
import dagster as dg
from hk_pipelines.defs.common.partitions import DAILY, SINGLE_RUN
from hk_pipelines.runner import materialize_days, prepare_dagster_home

count, first, last = int(sys.argv[1]), date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3])

def noop(name):
    @dg.asset(name=name, partitions_def=DAILY, backfill_policy=SINGLE_RUN)
    def _asset(context):
        return None
    return _asset

prepare_dagster_home()
instance = dg.DagsterInstance.get()
instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
assets = [noop(f"floor_{i}") for i in range(count)]
started = time.perf_counter()
result = materialize_days(assets, first, last, instance)
print(json.dumps({"seconds": time.perf_counter() - started, "success": result.success}))
"""

_RUNS = r"""
import json
import dagster as dg
from hk_pipelines.runner import prepare_dagster_home
prepare_dagster_home()
instance = dg.DagsterInstance.get()
out = []
for record in reversed(instance.get_run_records()):
    run = record.dagster_run
    steps = instance.get_run_step_stats(run.run_id)
    busy = sum((s.end_time or 0) - (s.start_time or 0) for s in steps if s.start_time)
    out.append({
        "run_id": run.run_id[:8],
        "assets": sorted(k.to_user_string() for k in (run.asset_selection or []))[:4],
        "n_assets": len(run.asset_selection or []),
        "range": [run.tags.get("dagster/asset_partition_range_start"),
                  run.tags.get("dagster/asset_partition_range_end")],
        "seconds": (record.end_time or 0) - (record.start_time or 0),
        "steps_seconds": busy,
        "status": run.status.value,
    })
print(json.dumps(out))
"""


def hk(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    result = subprocess.run([HK, *args], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in ok:
        sys.exit(f"hk {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds


def child(script: str, args: list[str], env: dict[str, str]) -> object:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--floor-assets", type=int, nargs="+", default=[1, 6])
    args = parser.parse_args()
    print("machine:", machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="hk-bench-pipeline-") as tmp:
        home = Path(tmp) / "home"
        env = bench_env(HK_HOME=str(home), HK_DATABASE_URL=database_url(DB))
        env.pop("DAGSTER_HOME", None)
        fresh_database(DB)
        book = Path(tmp) / "book"
        hk(
            ["generate", "--leads", str(args.leads), "--seed", str(args.seed), "--out", str(book)],
            env,
        )
        hk(["db", "upgrade"], env)
        hk(["reference", "import", "properties", str(book / "properties.csv")], env, ok=(0, 1))
        hk(["leads", "import", str(book / "leads.csv")], env, ok=(0, 1))
        hk(["events", "import", str(book / "stage_events.csv")], env, ok=(0, 1))
        print(f"book: {args.leads:,} leads, seed {args.seed}", flush=True)
        total = hk(["pipeline", "run"], env)
        print(f"\nhk pipeline run: {total:.1f} s", flush=True)
        runs = child(_RUNS, [], env)
        assert isinstance(runs, list)
        first = min(r["range"][0] for r in runs if r["range"][0])
        last = max(r["range"][1] for r in runs if r["range"][1])
        print(f"{'run':<10}{'assets':>7}{'days':>7}{'run s':>8}{'steps s':>9}  first assets")
        for r in runs:
            days = "-"
            if r["range"][0]:
                span = date.fromisoformat(r["range"][1]) - date.fromisoformat(r["range"][0])
                days = str(span.days + 1)
            print(f"{r['run_id']:<10}{r['n_assets']:>7}{days:>7}{r['seconds']:>8.1f}"
                  f"{r['steps_seconds']:>9.1f}  {', '.join(r['assets'])}")  # fmt: skip
        print(f"sum of runs: {sum(r['seconds'] for r in runs):.1f} s; outside runs: "
              f"{total - sum(r['seconds'] for r in runs):.1f} s (process start, imports, checks)")  # fmt: skip
        print(f"\nDagster floor: no-op daily assets over {first} .. {last}, one run each")
        for count in args.floor_assets:
            floor = child(_FLOOR, [str(count), first, last], env)
            assert isinstance(floor, dict)
            print(
                f"  {count} no-op asset(s): {floor['seconds']:.1f} s (success {floor['success']})"
            )
        print("\ndbt floor: hk dbt run --select stg_lead_scores")
        for _ in range(2):
            print(f"  {hk(['dbt', 'run', '--select', 'stg_lead_scores'], env):.1f} s")
    drop_database(DB)


if __name__ == "__main__":
    main()
