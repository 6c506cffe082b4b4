"""Contact normalisation (issue 19): `PiiHasher.contact_keys` on the libraries vs the fast path.

    uv run python benchmarks/bench_contacts.py [--leads 100000] [--repeats 5] [--data DIR]

Generates a synthetic book (`generate_book`, seed 1), reads its emails and phones, and times, in
one run and alternating, `contact_keys(email, phone)` over every lead with a fresh hasher each
pass (so the lru_cache only helps where the book itself repeats a value): `PiiHasher(fast=False)`
(email-validator and phonenumbers for every value) against `PiiHasher()` (hk_core.contacts_fast
first). Then the same for the whole of bulk import's per-lead validation, in this process with
no database: `LeadIn` validation, `LeadRecordBuilder.row` (contact keys, dedup key) and the COPY
line, as `hk leads import`'s workers do it. Prints the best pass of each, µs a lead, the ratios,
and how many values took the fast path.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import machine

from hk_core.contacts_fast import email_fast, nanp_fast_path
from hk_core.contract import LeadIn
from hk_core.intake.leads import copy_text
from hk_core.pii import PiiHasher
from hk_core.readers import RawRecord, read_records
from hk_core.records import LeadRecordBuilder, validate
from hk_core.synthetic import generate_book


def read_contacts(data: Path) -> list[tuple[str | None, str | None]]:
    with open(data / "leads.csv", newline="", encoding="utf-8") as f:
        return [(row["email"] or None, row["phone"] or None) for row in csv.DictReader(f)]


def one_pass(contacts: list[tuple[str | None, str | None]], *, fast: bool) -> float:
    hasher = PiiHasher("bench-key", fast=fast)
    started = time.perf_counter()
    for email, phone in contacts:
        hasher.contact_keys(email, phone)
    return time.perf_counter() - started


def validation_pass(records: list[RawRecord], *, fast: bool) -> float:
    builder = LeadRecordBuilder(PiiHasher("bench-key", fast=fast), channel="bulk")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for record in records:
        if record.error is not None:
            continue
        lead, errors = validate(
            LeadIn, record.fields, record.row, record.line, csv_cells=record.csv_cells
        )
        if lead is not None and not errors:
            copy_text(builder.row(lead, lead.warnings(record.fields), now))  # type: ignore[arg-type]
    return time.perf_counter() - started


def best_of(repeats: int, timed: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each, the variants alternating so that load changes hit them alike."""
    timings: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(repeats):
        for name, run in timed.items():
            timings[name].append(run())
    return {name: min(times) for name, times in timings.items()}


def show(what: str, best: dict[str, float], leads: int, repeats: int) -> None:
    for name, seconds in best.items():
        print(
            f"{what}, {name}: {seconds:.3f} s best of {repeats} ({seconds * 1e6 / leads:.1f} µs/lead)"
        )
    print(f"{what}, fast / library: {best['fast path'] / best['library path']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, help="a folder holding leads.csv (else generated)")
    args = parser.parse_args()
    print(machine(), flush=True)
    if args.data is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_contacts_"))
        generate_book(args.leads, 1, tmp)
        args.data = tmp
    contacts = read_contacts(args.data)
    emails = [email for email, _ in contacts if email]
    phones = [phone for _, phone in contacts if phone]
    us = nanp_fast_path("US")
    fast_emails = sum(email_fast(email) is not None for email in emails)
    fast_phones = sum(us.e164(phone) is not None for phone in phones) if us else 0
    print(
        f"{len(contacts):,} leads: {len(emails):,} emails ({fast_emails / len(emails):.1%} on the "
        f"fast path), {len(phones):,} phones ({fast_phones / len(phones):.1%} on the fast path)"
    )
    keys = best_of(args.repeats, {
        "library path": lambda: one_pass(contacts, fast=False),
        "fast path": lambda: one_pass(contacts, fast=True),
    })  # fmt: skip
    show("contact_keys", keys, len(contacts), args.repeats)
    with open(args.data / "leads.csv", "rb") as f:
        records = list(read_records(f, "csv"))
    validation = best_of(args.repeats, {
        "library path": lambda: validation_pass(records, fast=False),
        "fast path": lambda: validation_pass(records, fast=True),
    })  # fmt: skip
    show("validation", validation, len(records), args.repeats)
    saved = validation["library path"] - validation["fast path"]
    print(f"validation time saved: {saved:.3f} s, contact_keys time saved: "
          f"{keys['library path'] - keys['fast path']:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
