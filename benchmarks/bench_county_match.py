"""County matching on the project's own synthetic books: how many leads find their parcel.

    uv run python benchmarks/bench_county_match.py [--leads 20000] [--seed 5] [--data DIR]

Generates a book with its answer key (`generate_book(..., truth=True)`), imports the county
roll and the leads into a fresh database `hk_bench_county`, runs `enrich_leads` with the
`ReferenceDataProvider`, and compares every lead's matched APN with the answer key: matched,
right parcel, wrong parcel, and matches for leads whose parcel is not in the roll (must be 0).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
from common import database_url, drop_database, fresh_database, machine
from psycopg.rows import dict_row

from hk_core.enrichment import ReferenceDataProvider, enrich_leads
from hk_core.intake import import_leads, import_property_records
from hk_core.migrate import upgrade
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

BENCH_DB = "hk_bench_county"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep/reuse the generated book in this folder")
    args = parser.parse_args()
    print("machine:", machine(), flush=True)
    data = args.data or Path(tempfile.mkdtemp(prefix="hk-bench-county-"))
    if not (data / "leads.csv").exists():
        generate_book(args.leads, args.seed, data, truth=True)
    fresh_database(BENCH_DB)
    url = database_url(BENCH_DB)
    try:
        upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            with open(data / "properties.csv", "rb") as f:
                import_property_records(conn, f, "csv")
            with open(data / "leads.csv", "rb") as f:
                import_leads(conn, f, "csv", PiiHasher("bench"))
            with conn.cursor(row_factory=dict_row) as cur:
                leads = cur.execute("select * from app.leads order by lead_id").fetchall()
        provider = ReferenceDataProvider(url)
        started = time.perf_counter()
        rows, stats = enrich_leads(leads, provider)
        seconds = time.perf_counter() - started
        with open(data / "truth" / "leads.csv", newline="") as f:
            # Leads without the sender's id cannot be told apart in the answer key: left out.
            truth = {(r["source"], r["external_id"]): r for r in csv.DictReader(f)
                     if r["external_id"]}  # fmt: skip
        counts: Counter[str] = Counter()
        for row in rows:
            answer = truth.get((row["source"], row["external_id"]))
            if answer is None:
                counts["no_answer_key"] += 1
                continue
            if answer["in_county_roll"] != "1":
                counts["not_in_roll"] += 1
                counts["matched_not_in_roll"] += row["apn"] is not None
                continue
            counts["in_roll"] += 1
            if row["apn"] is not None:
                counts["matched"] += 1
                counts["right_apn"] += row["apn"] == answer["apn"]
                counts["wrong_apn"] += row["apn"] != answer["apn"]
        print(f"leads {len(rows):,}; enrich_leads {seconds:.1f} s; rules {provider.match_rules}")
        print(f"in roll {counts['in_roll']:,}: matched {counts['matched']:,} "
              f"({counts['matched'] / max(counts['in_roll'], 1):.2%}), right parcel "
              f"{counts['right_apn']:,}, wrong parcel {counts['wrong_apn']:,}")  # fmt: skip
        print(f"not in roll {counts['not_in_roll']:,}: matched anyway "
              f"{counts['matched_not_in_roll']:,}")  # fmt: skip
        print(f"leads without an answer key (no external_id) {counts['no_answer_key']:,}")
        print(f"address parse rate {stats.address_parse_rate:.2%}")
    finally:
        drop_database(BENCH_DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
