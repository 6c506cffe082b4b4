"""Daily partitions by the lead's received date (UTC), and helpers to walk a run's days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

# Books imported from older CRMs reach back years; earlier leads are outside the partitioned
# lake (and reported by `hk pipeline run`), not silently dropped.
FIRST_DAY = "2020-01-01"
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
SINGLE_RUN = dg.BackfillPolicy.single_run()


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a (possibly ranged, single-run backfill) materialisation covers."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + timedelta(days=i) for i in range((end - start).days)]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)
