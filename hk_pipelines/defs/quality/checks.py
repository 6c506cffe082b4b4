"""Asset checks that validate the run's lake partitions against the Great Expectations suites.

Both checks are blocking: a failed critical expectation (severity ERROR) stops the downstream
assets of the run; failed warning expectations are reported with severity WARN and block
nothing. A ranged (single-run backfill) materialisation runs each check once, over every day of
the range; a check run on its own validates the latest materialised partition.
"""

import time
from datetime import date, timedelta

import dagster as dg
import pyarrow as pa

from hk_core.warehouse import ENRICHED_LEAD_SCHEMA, RAW_LEAD_SCHEMA
from hk_pipelines.defs.common.resources import LakeResource
from hk_pipelines.defs.enrichment.assets import enriched_leads
from hk_pipelines.defs.intake.assets import raw_leads
from hk_pipelines.defs.quality.suites import SuiteOutcome, validate


def check_days(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> list[date]:
    """The days of the run's partition (range); without one, the latest materialised day."""
    if context.has_partition_key or context.has_partition_key_range:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        return [start + timedelta(days=i) for i in range((end - start).days)]
    event = context.instance.get_latest_materialization_event(asset_key)
    partition = (
        event.asset_materialization.partition if event and event.asset_materialization else None
    )
    if partition is None:
        raise dg.Failure(f"{asset_key.to_user_string()} has no materialised partition to check")
    return [date.fromisoformat(partition)]


def _result(outcome: SuiteOutcome, days: list[date], started: float) -> dg.AssetCheckResult:
    rules = [o for o in outcome.outcomes if not o.schema]
    contract = [o for o in outcome.outcomes if o.schema]
    results = {o.label: o.as_metadata() for o in rules}
    results["column_contract"] = {
        "success": all(o.success for o in contract),
        "severity": "critical",
        "failed": [o.label for o in contract if not o.success],
    }
    blocking = outcome.blocking
    failed = outcome.failed
    metadata: dict[str, dg.RawMetadataValue] = {
        "suite": outcome.suite,
        "rows": outcome.rows,
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "expectations": len(outcome.outcomes),
        "failed": dg.MetadataValue.json([o.label for o in failed]),
        "blocking": dg.MetadataValue.json([o.label for o in blocking]),
        "results": dg.MetadataValue.json(results),
        "seconds": round(time.perf_counter() - started, 3),
        **outcome.metrics,
        **{f"{o.metric}_floor": o.mostly for o in outcome.outcomes if o.metric and o.mostly},
    }
    summary = f"{len(failed)} of {len(outcome.outcomes)} expectations failed"
    if failed:
        summary += f" ({len(blocking)} blocking): " + ", ".join(o.label for o in failed[:5])
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=summary,
        metadata=metadata,
    )


def _check(
    context: dg.AssetCheckExecutionContext,
    lake: LakeResource,
    *,
    asset_key: dg.AssetKey,
    suite: str,
    zone: str,
    schema: pa.Schema,
    floors: dict[str, float],
) -> dg.AssetCheckResult:
    started = time.perf_counter()
    days = check_days(context, asset_key)
    store = lake.lake()
    partitions = {day: store.read_partition(zone, "leads", day) for day in days}
    missing = [day.isoformat() for day, table in partitions.items() if table is None]
    if missing:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{len(missing)} partition(s) missing from {zone}/leads",
            metadata={"missing_days": dg.MetadataValue.json(missing), "days": len(days)},
        )
    outcome = validate(
        suite, schema, {d: t for d, t in partitions.items() if t is not None}, floors
    )
    result = _result(outcome, days, started)
    log = context.log.warning if outcome.failed else context.log.info
    log(f"{suite}: {result.description} over {outcome.rows:,} rows, {len(days)} day(s)")
    return result


class EnrichedLeadsQualityConfig(dg.Config):
    """Per-run overrides of the suite's floors; unset means the floor in the suite JSON."""

    county_match_floor: float | None = None
    address_parse_floor: float | None = None


@dg.asset_check(asset=raw_leads, blocking=True)
def raw_leads_expectations(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> dg.AssetCheckResult:
    """The raw_leads suite: columns and types, ids, required fields, days, value ranges."""
    return _check(
        context, lake, asset_key=raw_leads.key, suite="raw_leads", zone="raw",
        schema=RAW_LEAD_SCHEMA, floors={},
    )  # fmt: skip


@dg.asset_check(asset=enriched_leads, blocking=True)
def enriched_leads_expectations(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, config: EnrichedLeadsQualityConfig
) -> dg.AssetCheckResult:
    """The enriched_leads suite: ids, columns and types, county match and address parse floors."""
    floors = {
        metric: value
        for metric, value in (
            ("county_match_rate", config.county_match_floor),
            ("address_parse_rate", config.address_parse_floor),
        )
        if value is not None
    }
    return _check(
        context, lake, asset_key=enriched_leads.key, suite="enriched_leads", zone="enriched",
        schema=ENRICHED_LEAD_SCHEMA, floors=floors,
    )  # fmt: skip
