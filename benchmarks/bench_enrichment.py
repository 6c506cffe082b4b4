"""Enrichment throughput (issue 19): `enrich_leads` with the county roll, cold, leads/s.

    uv run python benchmarks/bench_enrichment.py [--leads 20000] [--seed 5] [--data DIR]
        [--runs 2] [--workers N] [--profile] [--keep-db]

Generates a book (`generate_book`, seed fixed), imports its county roll and its leads into a
fresh database `hk_bench_enrich` as `hk reference import properties` and `hk leads import` do,
and times `enrich_leads` over all the leads with a new `ReferenceDataProvider` each time and
every in-process cache cleared first (cold: what one Dagster run sees). Two paths in the same
run, alternated `--runs` times: the per-lead reference path (`enrich_leads_reference`) and the
fast path (`enrich_leads`). The rows of both are compared field by field. `--profile` runs each
path once more under cProfile and prints the top functions by own and cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from common import database_url, drop_database, fresh_database, machine
from psycopg.rows import dict_row

from hk_core.enrichment import ReferenceDataProvider, enrich_leads
from hk_core.enrichment.enrich import clear_caches, enrich_leads_reference
from hk_core.intake import import_leads, import_property_records
from hk_core.migrate import upgrade
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

BENCH_DB = "hk_bench_enrich"


def _load(url: str, data: Path) -> list[dict[str, Any]]:
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        with open(data / "properties.csv", "rb") as f:
            import_property_records(conn, f, "csv")
        with open(data / "leads.csv", "rb") as f:
            import_leads(conn, f, "csv", PiiHasher("bench"))
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute("select * from app.leads order by lead_id").fetchall()


def _cold_run(
    enrich: Callable[..., tuple[list[dict[str, Any]], Any]],
    leads: list[dict[str, Any]],
    url: str,
    **options: Any,
) -> tuple[float, list[dict[str, Any]]]:
    clear_caches()
    provider = ReferenceDataProvider(url)
    started = time.perf_counter()
    rows, _ = enrich(leads, provider, **options)
    return time.perf_counter() - started, rows


def _profile(label: str, run: Callable[[], Any]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    for order in ("tottime", "cumulative"):
        print(f"\n--- {label}: top 15 by {order}")
        stats.sort_stats(order).print_stats(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep/reuse the generated book in this folder")
    parser.add_argument("--runs", type=int, default=2, help="alternations of the two paths")
    parser.add_argument("--workers", type=int, default=None, help="fast path's processes")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--skip-reference", action="store_true", help="fast path only")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print("machine:", machine(), flush=True)
    data = args.data or Path(tempfile.mkdtemp(prefix="hk-bench-enrich-"))
    if not (data / "leads.csv").exists():
        generate_book(args.leads, args.seed, data)
    fresh_database(BENCH_DB)
    url = database_url(BENCH_DB)
    try:
        leads = _load(url, data)
        print(f"leads {len(leads):,} (book of {args.leads:,}, seed {args.seed})", flush=True)
        fast_options = {} if args.workers is None else {"workers": args.workers}
        times: dict[str, list[float]] = {"reference": [], "fast": []}
        for run in range(args.runs):
            if not args.skip_reference:
                seconds, reference_rows = _cold_run(enrich_leads_reference, leads, url)
                times["reference"].append(seconds)
                print(f"run {run + 1} reference: {seconds:.2f} s, "
                      f"{len(leads) / seconds:,.0f} leads/s", flush=True)  # fmt: skip
            seconds, fast_rows = _cold_run(enrich_leads, leads, url, **fast_options)
            times["fast"].append(seconds)
            print(f"run {run + 1} fast: {seconds:.2f} s, {len(leads) / seconds:,.0f} leads/s",
                  flush=True)  # fmt: skip
            if not args.skip_reference:
                differing = sum(a != b for a, b in zip(reference_rows, fast_rows, strict=True))
                print(f"run {run + 1}: rows differing between the paths: {differing}")
        fast = min(times["fast"])
        print(f"fast (best of {args.runs}): {len(leads) / fast:,.0f} leads/s")
        if times["reference"]:
            reference = min(times["reference"])
            print(f"reference (best of {args.runs}): {len(leads) / reference:,.0f} leads/s; "
                  f"ratio fast/reference {reference / fast:.1f}x")  # fmt: skip
        if args.profile:
            if not args.skip_reference:
                _profile("reference", lambda: _cold_run(enrich_leads_reference, leads, url))
            # The pool's workers are invisible to cProfile: the fast path in one process.
            _profile("fast, one process", lambda: _cold_run(enrich_leads, leads, url, workers=1))
        print("machine at the end:", machine())
    finally:
        if not args.keep_db:
            drop_database(BENCH_DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
