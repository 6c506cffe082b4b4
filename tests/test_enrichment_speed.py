"""The fast enrichment path (issue 19) gives the per-lead path's rows, field by field: on a whole
synthetic book with its messy inputs, with and without worker processes. Speed itself is
measured in benchmarks/bench_enrichment.py, never here."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.rows import dict_row

from hk_core.enrichment import ENRICHED_FIELDS, ReferenceDataProvider, enrich_leads
from hk_core.enrichment.enrich import clear_caches, enrich_leads_reference
from hk_core.enrichment.parallel import MIN_PARALLEL_ITEMS, parallel_map
from hk_core.intake import import_leads, import_property_records
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

BOOK_LEADS = 3_000


def _differences(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[str]:
    assert len(expected) == len(got)
    found = []
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert list(have) == list(want), f"row {i}: columns differ"
        for name in ENRICHED_FIELDS:
            if type(want[name]) is not type(have[name]) or want[name] != have[name]:
                found.append(f"lead {want['lead_id']} {name}: {want[name]!r} != {have[name]!r}")
    return found


@pytest.fixture
def book_leads(db, database_url, tmp_path) -> list[dict[str, Any]]:
    summary = generate_book(BOOK_LEADS, 11, tmp_path)
    with open(summary.paths["properties"], "rb") as f:
        import_property_records(db, f, "csv")
    with open(summary.paths["leads"], "rb") as f:
        import_leads(db, f, "csv", PiiHasher("k"))
    with db.cursor(row_factory=dict_row) as cur:
        leads = cur.execute("select * from app.leads order by lead_id").fetchall()
    # What a file or a form can still send: the same seller twice, a lead whose owner matching
    # raises, text where a number belongs, a street that is not text, a ZIP as a number.
    head, _ = enrich_leads_reference(leads[:300], ReferenceDataProvider(database_url))
    first = next(lead for lead, row in zip(leads, head, strict=False) if row["apn"] is not None)
    zip_digits = (first["property_zip"] or "")[:5]
    odd = [
        dict(first, lead_id=-1),
        dict(first, lead_id=-2, first_name=object()),
        dict(first, lead_id=-3, phone=5125550101, email=["not", "text"]),
        dict(first, lead_id=-4, property_street=["123 Main St"], property_zip=None),
        dict(first, lead_id=-5, property_zip=int(zip_digits) if zip_digits.isdigit() else 78701),
        dict(first, lead_id=-6, property_street=None, email=" ", phone="call me"),
    ]
    return leads + odd


@pytest.mark.parametrize("workers", [1, 2])
def test_fast_path_rows_equal_the_per_lead_path(book_leads, database_url, workers):
    assert len(book_leads) >= MIN_PARALLEL_ITEMS  # so that workers=2 really forks
    clear_caches()
    expected, expected_stats = enrich_leads_reference(
        book_leads, ReferenceDataProvider(database_url)
    )
    clear_caches()
    provider = ReferenceDataProvider(database_url, workers=workers)
    rows, stats = enrich_leads(book_leads, provider, workers=workers)
    assert _differences(expected, rows) == []
    assert stats == expected_stats
    assert stats.lead_errors == 1 and stats.county_matched > BOOK_LEADS * 0.7
    # Warm caches (a second partition in the same run) change nothing either.
    again, again_stats = enrich_leads(book_leads, provider, workers=workers)
    assert _differences(expected, again) == [] and again_stats == expected_stats


def _square(n: int) -> int:
    return n * n


def test_parallel_map_keeps_order_and_small_inputs_stay_in_process():
    items = list(range(MIN_PARALLEL_ITEMS * 2 + 7))
    assert parallel_map(_square, items, 2) == [n * n for n in items]
    assert parallel_map(_square, [3, 1], 2) == [9, 1]
    assert parallel_map(_square, [], None) == []
