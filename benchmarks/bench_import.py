"""Bulk import throughput: `hk leads import` against a plain `psql \\copy` of the same file.

    uv run python benchmarks/bench_import.py [--rows 1000000|100000] [--runs 1] [--data DIR]
                                             [--profile]

Generates a synthetic book with `hk generate --seed 1` (about 2% of its rows are bad on purpose,
so `hk leads import` exits 1: hyperfine runs with --ignore-failure), creates a fresh database
`hk_bench`, and times with hyperfine, in one run: `hk leads import leads.csv` (app.leads is
truncated before each run, or the re-import would store nothing) and `psql \\copy` of the same
file into a bare table of text columns named after the CSV header (the floor: no validation,
no types, no indexes), and the import again with the automations' lead_created trigger disabled
(what the events and the dispatch job cost). `--profile` then runs the import once under cProfile.
"""

from __future__ import annotations

import argparse
import csv
import json
import pstats
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    HK,
    REPO,
    bench_env,
    database_url,
    drop_database,
    fresh_database,
    hk,
    machine,
    psql,
    require,
)

TARGET_LEADS_PER_SECOND = 100_000
TARGET_RATIO = 0.3
GENERATOR = REPO / "hk_core" / "synthetic" / "__init__.py"
WAIT_FOR_GENERATOR_SECONDS = 30 * 60


def generate(rows: int, out: Path, env: dict[str, str]) -> None:
    """`hk generate`; hk_core/synthetic/__init__.py may still be being written, so wait for it."""
    deadline = time.monotonic() + WAIT_FOR_GENERATOR_SECONDS
    command = [HK, "generate", "--leads", str(rows), "--seed", "1", "--out", str(out)]
    while True:
        if GENERATOR.exists():
            print("$", shlex.join(command), flush=True)
            result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            if result.returncode == 0:
                print(result.stdout.strip().splitlines()[-1])
                return
            print(f"hk generate failed:\n{result.stderr[-1500:]}", flush=True)
        else:
            print(f"waiting for {GENERATOR.relative_to(REPO)} to exist …", flush=True)
        if time.monotonic() > deadline:
            sys.exit("no working `hk generate` after 30 minutes; giving up")
        time.sleep(60)


def count_records(path: Path) -> tuple[list[str], int]:
    """The CSV header and the number of data records (quoted fields may hold newlines)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, sum(1 for _ in reader)


def hyperfine(runs: int, commands: list[tuple[str, str, str]], env: dict[str, str]) -> list[dict]:
    """Time (name, prepare, command) triples with hyperfine; returns its JSON results."""
    export = Path(tempfile.mkstemp(prefix="hk-bench-", suffix=".json")[1])
    command = ["hyperfine", "--runs", str(runs), "--warmup", "0", "--ignore-failure",
               "--style", "basic", "--export-json", str(export)]  # fmt: skip
    for name, prepare, run in commands:
        command += ["--prepare", prepare, "--command-name", name, run]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True, env=env)
    results = json.loads(export.read_text())["results"]
    export.unlink()
    return results


# `hk leads import` validates in worker processes, which cProfile cannot see; this profiles the
# same import_leads call in one process (workers=1), so the per-row work shows by function.
PROFILE_SNIPPET = """
import cProfile, sys, psycopg
from hk_cli.main import _conninfo, _hasher
from hk_core.intake import import_leads
path, out = sys.argv[1], sys.argv[2]
with psycopg.connect(_conninfo(), autocommit=True) as conn, open(path, "rb") as stream:
    hasher = _hasher()
    profiler = cProfile.Profile()
    profiler.enable()
    result = import_leads(conn, stream, "csv", hasher, channel="cli", workers=1)
    profiler.disable()
profiler.dump_stats(out)
print(f"profiled import: {result.rows} rows, {result.stored} stored")
"""


def profile_import(leads_csv: Path, env: dict[str, str], top: int = 12) -> None:
    """One in-process import under cProfile; prints the functions with the most own time."""
    psql("truncate app.leads cascade")
    stats_path = Path(tempfile.mkstemp(prefix="hk-import-", suffix=".prof")[1])
    print(f"\ncProfile of import_leads(workers=1) on {leads_csv.name}", flush=True)
    command = [sys.executable, "-c", PROFILE_SNIPPET, str(leads_csv), str(stats_path)]
    subprocess.run(command, cwd=REPO, env=env, check=True)
    stats = pstats.Stats(str(stats_path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"hk_core|psycopg|email_valid|phonenum", top)
    print(f"profile saved to {stats_path} (python -m pstats {stats_path})")


def report(rows: int, results: list[dict], stored: int, copied: int) -> None:
    by_name = {r["command"]: r for r in results}
    hk_run, copy_run = by_name["hk leads import"], by_name["psql \\copy"]
    hk_rate, copy_rate = rows / hk_run["mean"], rows / copy_run["mean"]
    print(f"\nhk leads import   : {hk_run['mean']:8.2f} s  {hk_rate:10,.0f} leads/s  "
          f"exit codes {hk_run['exit_codes']} (1 = bad rows rejected, expected); "
          f"{stored:,} stored")  # fmt: skip
    print(f"psql \\copy        : {copy_run['mean']:8.2f} s  {copy_rate:10,.0f} rows/s   "
          f"exit codes {copy_run['exit_codes']}; {copied:,} rows copied")  # fmt: skip
    print(f"ratio import/copy : {hk_rate / copy_rate:.3f}  (target >= {TARGET_RATIO})")
    print(f"leads/s           : {hk_rate:,.0f}  (target >= {TARGET_LEADS_PER_SECOND:,})")
    bare = by_name.get("hk leads import, no automations")
    if bare:
        print(f"without the automations trigger: {bare['mean']:8.2f} s; "
              f"with/without = {hk_run['mean'] / bare['mean']:.3f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="leads (default 1000000)")
    parser.add_argument("--runs", type=int, default=1, help="hyperfine runs per command")
    parser.add_argument("--data", type=Path, help="keep/reuse the generated book in this folder")
    parser.add_argument("--profile", action="store_true", help="cProfile one import afterwards")
    parser.add_argument("--keep-db", action="store_true", help="leave hk_bench for inspection")
    args = parser.parse_args()
    require("hyperfine", "psql")
    print("machine:", machine(), flush=True)

    env = bench_env()
    data = args.data or Path(tempfile.mkdtemp(prefix="hk-bench-import-"))
    data.mkdir(parents=True, exist_ok=True)
    leads_csv = (data / "leads.csv").resolve()
    try:
        if leads_csv.exists():
            print(f"reusing {leads_csv}")
        else:
            generate(args.rows, data, env)
        header, rows = count_records(leads_csv)
        print(f"{leads_csv}: {rows:,} records, {leads_csv.stat().st_size / 1e6:.0f} MB")

        fresh_database()
        hk("db", "upgrade", env=env)
        columns = ", ".join(f'"{name}" text' for name in header)
        psql(f"create table public.bench_copy ({columns})")
        url = shlex.quote(database_url())
        copy = (
            f"\\copy public.bench_copy from {shlex.quote(str(leads_csv))} with (format csv, header)"
        )
        trigger = "trigger leads_created_events"
        results = hyperfine(args.runs, [
            ("hk leads import",
             f"psql {url} -Xqc 'truncate app.leads cascade; alter table app.leads enable {trigger}'",
             f"{shlex.quote(HK)} leads import {shlex.quote(str(leads_csv))}"),
            # The same import without the automations' lead_created trigger (events + a job).
            ("hk leads import, no automations",
             f"psql {url} -Xqc 'truncate app.leads cascade; alter table app.leads disable {trigger}'",
             f"{shlex.quote(HK)} leads import {shlex.quote(str(leads_csv))}"),
            ("psql \\copy", f"psql {url} -Xqc 'truncate public.bench_copy'",
             f"psql {url} -Xq -v ON_ERROR_STOP=1 -c {shlex.quote(copy)}"),
        ], env)  # fmt: skip
        stored = int(psql("select count(*) from app.leads"))
        copied = int(psql("select count(*) from public.bench_copy"))
        report(rows, results, stored, copied)
        if args.profile:
            profile_import(leads_csv, env)
    finally:
        if not args.keep_db:
            drop_database()
        if args.data is None:
            shutil.rmtree(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
