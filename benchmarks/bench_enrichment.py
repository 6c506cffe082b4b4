"""Enrichment throughput (issue 19): `enrich_leads` with the county roll, cold, leads/s.

    uv run python benchmarks/bench_enrichment.py [--leads 20000] [--seed 5] [--data DIR]
        [--runs 3] [--workers N] [--before REV] [--profile] [--keep-db]

Generates a book (`generate_book`, seed fixed), imports its county roll and its leads into a
fresh database `hk_bench_enrich` (`import_property_records` and `import_leads`, what
`hk reference import properties` and `hk leads import` run), and times `enrich_leads` over all
the leads, each time with a new `ReferenceDataProvider` and every in-process cache cleared
first: cold, as the first day of a Dagster run sees it. Alternated `--runs` times:

- *before*: commit `--before`'s `hk_core` (extracted with `git archive`, first on PYTHONPATH)
  in a child process, its rows kept;
- *reference*: this code's `enrich_leads_reference` (the per-lead path, in process);
- *fast, 1 process* and *fast, N processes*: this code's `enrich_leads` (`workers=1` and
  `--workers`, default one per core).

Every path's rows are compared field by field with *before*'s. CPU seconds include the worker
processes. `--profile` then runs *before* and *fast, 1 process* once more under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import pstats
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from common import REPO, database_url, drop_database, fresh_database, machine
from psycopg.rows import dict_row

BENCH_DB = "hk_bench_enrich"
DEFAULT_BEFORE = "587a1cc"  # main when issue 19's enrichment work started


def _leads(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("select * from app.leads order by lead_id").fetchall()


def _load(url: str, data: Path) -> None:
    from hk_core.intake import import_leads, import_property_records
    from hk_core.migrate import upgrade
    from hk_core.pii import PiiHasher

    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        with open(data / "properties.csv", "rb") as f:
            import_property_records(conn, f, "csv")
        with open(data / "leads.csv", "rb") as f:
            import_leads(conn, f, "csv", PiiHasher("bench"))


def _clear_caches() -> None:
    """Every memoised reading, in whichever version of hk_core was imported."""
    from hk_core.enrichment import enrich

    if hasattr(enrich, "clear_caches"):
        enrich.clear_caches()
        return
    from hk_core.address import parts, standard
    from hk_core.enrichment import email, owner, phone

    for cached in (standard.standardize, parts.parse_street, email._check, phone._check,
                   owner._score):  # fmt: skip
        cached.cache_clear()


def _cold(enrich: Callable[..., Any], leads: list[dict[str, Any]], url: str, **options: Any):
    """(wall seconds, CPU seconds of this process and its workers, rows)."""
    from hk_core.enrichment import ReferenceDataProvider

    _clear_caches()
    provider = ReferenceDataProvider(url, **options) if options else ReferenceDataProvider(url)
    cpu_before = _cpu()
    started = time.perf_counter()
    rows, _ = enrich(leads, provider, **options)
    return time.perf_counter() - started, _cpu() - cpu_before, rows


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _print_profile(label: str, run: Callable[[], Any]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    for order in ("tottime", "cumulative"):
        print(f"\n--- {label}: top 20 by {order}")
        stats.sort_stats(order).print_stats(20)


def child(url: str, out: Path, profile: bool) -> int:
    """The *before* run, in a process whose hk_core is the old commit's."""
    import hk_core
    from hk_core.enrichment import enrich_leads

    assert str(Path(hk_core.__file__).resolve()).startswith(str(out.parent)), hk_core.__file__
    leads = _leads(url)
    if profile:
        _print_profile("before", lambda: _cold(enrich_leads, leads, url))
        return 0
    seconds, cpu, rows = _cold(enrich_leads, leads, url)
    out.write_bytes(pickle.dumps(rows))
    print(f"{seconds} {cpu}")
    return 0


def _before(code: Path, url: str, *, profile: bool = False) -> tuple[float, float, list]:
    out = code / "rows.pickle"
    env = dict(os.environ, PYTHONPATH=str(code))
    command = [sys.executable, __file__, "--child", url, str(out)] + ["--profile"] * profile
    result = subprocess.run(command, env=env, capture_output=not profile, text=True)
    if result.returncode:
        sys.exit(f"the before run failed:\n{result.stderr[-3000:]}")
    if profile:
        return 0.0, 0.0, []
    seconds, cpu = map(float, result.stdout.split()[-2:])
    return seconds, cpu, pickle.loads(out.read_bytes())


def _differing(expected: list[dict], rows: list[dict]) -> int:
    """Rows with any field unequal (or of another type) to the before run's."""
    assert len(expected) == len(rows)
    return sum(
        list(a) != list(b) or any(type(a[k]) is not type(b[k]) or a[k] != b[k] for k in a)
        for a, b in zip(expected, rows, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep/reuse the generated book in this folder")
    parser.add_argument("--runs", type=int, default=3, help="alternations of the paths")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="commit of the before run")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    from hk_core.enrichment import enrich_leads
    from hk_core.enrichment.enrich import enrich_leads_reference
    from hk_core.synthetic import generate_book

    print("machine:", machine(), flush=True)
    data = args.data or Path(tempfile.mkdtemp(prefix="hk-bench-enrich-"))
    if not (data / "leads.csv").exists():
        generate_book(args.leads, args.seed, data)
    code = Path(tempfile.mkdtemp(prefix="hk-bench-enrich-before-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "hk_core"],
                             check=True, capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(code, filter="data")
    fresh_database(BENCH_DB)
    url = database_url(BENCH_DB)
    try:
        _load(url, data)
        leads = _leads(url)
        print(f"leads {len(leads):,} (book of {args.leads:,}, seed {args.seed}); before = "
              f"{args.before}; fast with {args.workers} processes", flush=True)  # fmt: skip
        paths: dict[str, Callable[[], tuple[float, float, list]]] = {
            "before": lambda: _before(code, url),
            "reference": lambda: _cold(enrich_leads_reference, leads, url),
            "fast, 1 process": lambda: _cold(enrich_leads, leads, url, workers=1),
            f"fast, {args.workers} processes": lambda: _cold(
                enrich_leads, leads, url, workers=args.workers
            ),
        }
        best: dict[str, tuple[float, float]] = {}
        expected: list[dict] = []
        for run in range(1, args.runs + 1):
            for label, path in paths.items():
                seconds, cpu, rows = path()
                if label == "before":
                    expected = rows
                differing = _differing(expected, rows)
                print(f"run {run} {label:>20}: {seconds:6.2f} s wall, {cpu:6.2f} s CPU, "
                      f"{len(leads) / seconds:8,.0f} leads/s; rows differing from before: "
                      f"{differing}", flush=True)  # fmt: skip
                previous = best.get(label, (seconds, cpu))
                best[label] = (min(seconds, previous[0]), min(cpu, previous[1]))
        before_seconds, before_cpu = best["before"]
        print(f"\nbest of {args.runs} (ratio = before's best wall / the path's best wall; CPU "
              "ratio = the same with CPU seconds):")  # fmt: skip
        for label, (seconds, cpu) in best.items():
            print(f"{label:>22}: {len(leads) / seconds:8,.0f} leads/s, ratio "
                  f"{before_seconds / seconds:4.1f}x, CPU ratio {before_cpu / cpu:4.1f}x")  # fmt: skip
        if args.profile:
            _before(code, url, profile=True)
            # The pool's workers are invisible to cProfile: the fast path in one process.
            _print_profile("fast, 1 process", lambda: _cold(enrich_leads, leads, url, workers=1))
        print("\nmachine at the end:", machine())
    finally:
        if not args.keep_db:
            drop_database(BENCH_DB)
        shutil.rmtree(code, ignore_errors=True)
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], Path(sys.argv[3]), "--profile" in sys.argv))
    sys.exit(main())
