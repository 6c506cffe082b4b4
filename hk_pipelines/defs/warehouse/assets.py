"""warehouse_*: lake partitions COPYed into Postgres raw.*, a re-run replacing its days."""

import time

import dagster as dg
import pyarrow as pa

from hk_core.intake import copy_text
from hk_pipelines.defs.common.partitions import DAILY, SINGLE_RUN, partition_days, with_progress
from hk_pipelines.defs.common.resources import LakeResource, PostgresResource
from hk_pipelines.defs.enrichment.assets import enriched_leads
from hk_pipelines.defs.intake.assets import lead_stage_events


def load_days(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    lake: LakeResource,
    *,
    zone: str,
    dataset: str,
    table: str,
    day_column: str,
) -> dg.MaterializeResult:
    """Replace the run's days in ``table`` with the lake's partitions, in one transaction."""
    started = time.perf_counter()
    store = lake.lake()
    days = partition_days(context)
    rows = 0
    with postgres.connect() as conn, conn.transaction():
        conn.execute(
            f"delete from {table} where {day_column} >= %s and {day_column} <= %s",
            (days[0], days[-1]),
        )
        for day in with_progress(context, days, table):
            partition = store.read_partition(zone, dataset, day)
            if partition is None:
                raise dg.Failure(f"{zone}/{dataset} has no partition {day}; materialise it first")
            rows += _copy(conn, table, partition)
    context.log.info(f"loaded {rows:,} rows into {table} for {len(days)} day(s)")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": len(days),
            "table": table,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


def _copy(conn, table: str, partition: pa.Table) -> int:
    if partition.num_rows == 0:
        return 0
    columns = partition.schema.names
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for batch in partition.to_batches(max_chunksize=20_000):
            lines = (copy_text(tuple(row.values())) for row in batch.to_pylist())
            copy.write("".join(lines).encode())
    return partition.num_rows


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    deps=[enriched_leads],
    group_name="warehouse",
    kinds={"postgres"},
)
def warehouse_enriched_leads(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> dg.MaterializeResult:
    """raw.enriched_leads: the enriched zone's days loaded into the warehouse for dbt."""
    return load_days(
        context, postgres, lake, zone="enriched", dataset="leads",
        table="raw.enriched_leads", day_column="received_date",
    )  # fmt: skip


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    deps=[lead_stage_events],
    group_name="warehouse",
    kinds={"postgres"},
)
def warehouse_lead_stage_events(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> dg.MaterializeResult:
    """raw.lead_stage_events: the raw zone's stage events loaded into the warehouse for dbt."""
    return load_days(
        context, postgres, lake, zone="raw", dataset="stage_events",
        table="raw.lead_stage_events", day_column="occurred_date",
    )  # fmt: skip


APP_DEALS = dg.AssetSpec(
    "app_deals",
    description="Deals, one per lead that reached offer_made (Postgres app.deals).",
    group_name="intake",
    kinds={"postgres"},
)
# Notes stay out: free text a person typed about a seller.
_DEAL_COLUMNS = (
    "deal_id, lead_id, status, offer_amount, contract_price, assignment_fee, contract_date, "
    "closing_date, offer_made_at, status_changed_at, created_at, updated_at"
)


@dg.asset(deps=[APP_DEALS], group_name="warehouse", kinds={"postgres"})
def warehouse_deals(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    """raw.deals: a snapshot of app.deals for dbt, replaced whole in one transaction."""
    # Not by day like the other raw tables: a deal changes after the day it was made (its
    # status, figures and dates), and a whole snapshot is one statement over a small table.
    started = time.perf_counter()
    with postgres.connect() as conn, conn.transaction():
        conn.execute("delete from raw.deals")
        cur = conn.execute(
            f"insert into raw.deals ({_DEAL_COLUMNS}, external_id, source, copied_at) "
            f"select {', '.join('d.' + c for c in _DEAL_COLUMNS.split(', '))}, l.external_id, "
            "l.source, now() from app.deals as d join app.leads as l using (lead_id)"
        )
        rows = cur.rowcount
        by_status = dict(
            conn.execute("select status, count(*) from raw.deals group by status").fetchall()
        )
    context.log.info(f"copied {rows:,} deals into raw.deals")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "dagster/row_count": rows,
            "table": "raw.deals",
            "by_status": dg.MetadataValue.json(by_status),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
