"""Fixtures for pipeline tests: a synthetic book loaded into the real Postgres, and one
Dagster run over a range of daily partitions (the single-run backfill path)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from hk_core.intake import import_leads, import_property_records, import_stage_events
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

BOOK_AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    generate_book(600, 21, out, as_of=BOOK_AS_OF)
    return out


@pytest.fixture
def loaded(db, book) -> psycopg.Connection:
    """The book in app.* (``db`` empties them, the enrichment cache included); raw.* emptied."""
    db.execute("truncate raw.enriched_leads, raw.lead_stage_events")
    for name, load in (
        ("properties.csv", lambda s: import_property_records(db, s, "csv")),
        ("leads.csv", lambda s: import_leads(db, s, "csv", PiiHasher("test-key"))),
        ("stage_events.csv", lambda s: import_stage_events(db, s, "csv")),
    ):
        load(io.BytesIO((book / name).read_bytes()))
    return db


def run_range(
    assets, first: date, last: date, resources: dict, *, raise_on_error: bool = True
) -> dg.ExecuteInJobResult:
    """One run over the days first..last, on a throwaway instance."""
    with dg.instance_for_test() as instance:
        return dg.materialize(
            assets,
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
            raise_on_error=raise_on_error,
        )
