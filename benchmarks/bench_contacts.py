"""Contact normalisation (issue 19): `PiiHasher.contact_keys` on the libraries vs the fast path.

    uv run python benchmarks/bench_contacts.py [--leads 100000] [--repeats 5] [--data DIR]

Generates a synthetic book (`generate_book`, seed 1), reads its emails and phones, and times, in
one run and alternating, `contact_keys(email, phone)` over every lead with a fresh hasher each
pass (so the lru_cache only helps where the book itself repeats a value): `PiiHasher(fast=False)`
(email-validator and phonenumbers for every value) against `PiiHasher()` (hk_core.contacts_fast
first). Prints the best pass of each, µs a lead, the ratio, and how many values took the fast
path.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from common import machine

from hk_core.contacts_fast import email_fast, nanp_fast_path
from hk_core.pii import PiiHasher
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
    timings: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for fast in (False, True):
            timings[fast].append(one_pass(contacts, fast=fast))
    library, fast = min(timings[False]), min(timings[True])
    per_lead = 1e6 / len(contacts)
    print(f"library path: {library:.3f} s best of {args.repeats} ({library * per_lead:.1f} µs/lead)")
    print(f"fast path:    {fast:.3f} s best of {args.repeats} ({fast * per_lead:.1f} µs/lead)")
    print(f"fast / library: {fast / library:.3f} ({library / fast:.1f}x faster)")


if __name__ == "__main__":
    main()
