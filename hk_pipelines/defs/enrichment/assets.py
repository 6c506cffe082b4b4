"""enriched_leads: every raw lead with its enrichment, in the lake's enriched zone."""

import random
import time
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import pyarrow as pa

from hk_core.enrichment.enrich import enrich_leads
from hk_core.enrichment.providers import VendorUnavailable
from hk_core.settings import get_settings
from hk_core.warehouse import ENRICHED_LEAD_SCHEMA
from hk_pipelines.defs.common.partitions import DAILY, SINGLE_RUN, partition_days, with_progress
from hk_pipelines.defs.common.resources import EnrichmentResource, LakeResource, PostgresResource
from hk_pipelines.defs.intake.assets import raw_leads

# The vendor client already retries each request with jittered backoff; when the vendor stays
# down, the whole step is retried later, and only then is the run reported failed. Other errors
# (bad data, bugs) fail at once: retrying them would only delay the report.
VENDOR_OUTAGE_RETRIES = 3
VENDOR_OUTAGE_WAIT_SECONDS = 30


_MONEY_FIELDS = [f.name for f in ENRICHED_LEAD_SCHEMA if pa.types.is_decimal(f.type)]
_INT_FIELDS = [f.name for f in ENRICHED_LEAD_SCHEMA if pa.types.is_integer(f.type)]


def enriched_table(rows: list[dict], enriched_at: datetime) -> pa.Table:
    """Project enrichment output onto the enriched-zone schema (no raw contacts or names)."""
    names = ENRICHED_LEAD_SCHEMA.names
    records = []
    for row in rows:
        record = {name: row.get(name) for name in names}
        for name in _MONEY_FIELDS:
            if isinstance(record[name], float):
                record[name] = Decimal(f"{record[name]:.2f}")
        for name in _INT_FIELDS:
            value = record[name]
            if isinstance(value, float | Decimal):
                record[name] = int(value)
        record["received_date"] = row["received_at"].astimezone(UTC).date()
        record["enriched_at"] = enriched_at
        records.append(record)
    return pa.Table.from_pylist(records, schema=ENRICHED_LEAD_SCHEMA)


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    deps=[raw_leads],
    group_name="lake",
    kinds={"parquet"},
)
def enriched_leads(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    lake: LakeResource,
    enrichment: EnrichmentResource,
) -> dg.MaterializeResult:
    """Every lead of the day with contact validity, standard address, owner of record and property data."""
    started = time.perf_counter()
    store = lake.lake()
    provider = enrichment.build(postgres.conninfo())
    totals: dict[str, float] = {}
    enriched_at = datetime.now(UTC)
    days = partition_days(context)
    phone_region = get_settings().default_phone_region
    workers = enrichment.worker_count()
    # Each day is enriched whole, then written atomically: a provider failure stops the run
    # before the failing day's partition is touched, and the retry redoes the range.
    for day in with_progress(context, days, "enriched_leads"):
        raw = store.read_partition("raw", "leads", day)
        if raw is None:
            raise dg.Failure(f"raw_leads has no partition {day}; materialise it first")
        try:
            enriched, stats = enrich_leads(
                raw.to_pylist(), provider, phone_region=phone_region, workers=workers
            )
        except VendorUnavailable as exc:
            context.log.warning(f"enrichment vendor unavailable on {day}: {exc}")
            raise dg.RetryRequested(
                max_retries=VENDOR_OUTAGE_RETRIES,
                seconds_to_wait=VENDOR_OUTAGE_WAIT_SECONDS * (1 + random.random()),
            ) from exc
        store.write_partition("enriched", "leads", day, enriched_table(enriched, enriched_at))
        for key, value in asdict(stats).items():
            if isinstance(value, int | float) and not key.endswith("_rate"):
                totals[key] = totals.get(key, 0) + value
    leads = int(totals.get("leads", 0))

    def rate(count_key: str) -> float:
        return round(totals.get(count_key, 0) / leads, 4) if leads else 0.0

    context.log.info(f"enriched {leads:,} leads over {len(days)} day(s)")
    return dg.MaterializeResult(
        metadata={
            "rows": leads,
            "days": len(days),
            "provider": getattr(provider, "name", type(provider).__name__),
            "address_parse_rate": rate("address_parsed"),
            "county_match_rate": rate("county_matched"),
            "owner_match_rate": rate("owner_matched"),
            "email_valid_rate": rate("email_valid"),
            "phone_valid_rate": rate("phone_valid"),
            "provider_failures": int(totals.get("provider_failures", 0)),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
