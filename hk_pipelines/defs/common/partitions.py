"""Daily partitions by the lead's received date (UTC), and helpers to walk a run's days."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import dagster as dg

# Single-run backfills are what every partitioned asset here uses; Dagster still labels the
# parameter beta and warns once per asset, which buries the progress lines of `hk` commands.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

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


def with_progress(context, days: list[date], what: str):
    """Yield the days, logging progress about every tenth of the way on long ranges."""
    step = max(1, len(days) // 10)
    for i, day in enumerate(days, start=1):
        yield day
        if len(days) > 1 and (i % step == 0 or i == len(days)):
            context.log.info(f"{what}: {i}/{len(days)} days done (through {day})")
