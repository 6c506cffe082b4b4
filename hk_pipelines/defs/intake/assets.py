"""raw_leads and lead_stage_events: operational rows landed as daily Parquet partitions."""

import time
from collections import defaultdict
from datetime import UTC, date

import dagster as dg
import pyarrow as pa
from psycopg.rows import dict_row

from hk_core.warehouse import RAW_LEAD_SCHEMA, STAGE_EVENT_SCHEMA
from hk_pipelines.defs.common.partitions import (
    DAILY,
    SINGLE_RUN,
    day_bounds,
    partition_days,
    with_progress,
)
from hk_pipelines.defs.common.resources import LakeResource, PostgresResource

APP_LEADS = dg.AssetSpec(
    "app_leads",
    description="Leads stored by the intake API and imports (Postgres app.leads).",
    group_name="intake",
    kinds={"postgres"},
)
APP_STAGE_EVENTS = dg.AssetSpec(
    "app_stage_events",
    description="Funnel stage events (Postgres app.stage_events).",
    group_name="intake",
    kinds={"postgres"},
)


def land_days(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    lake: LakeResource,
    *,
    query: str,
    time_column: str,
    dataset: str,
    schema: pa.Schema,
) -> dg.MaterializeResult:
    """Run ``query`` over the run's days (two %s bounds), group rows by the UTC day of
    ``time_column`` and write one raw-zone partition per day, empty days included."""
    started = time.perf_counter()
    days = partition_days(context)
    with postgres.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (day_bounds(days[0])[0], day_bounds(days[-1])[1]))
        grouped: dict[date, list[dict]] = defaultdict(list)
        for row in cur.fetchall():
            grouped[row[time_column].astimezone(UTC).date()].append(row)
    store, rows = lake.lake(), 0
    for day in with_progress(context, days, f"raw/{dataset}"):
        table = pa.Table.from_pylist(grouped.get(day, []), schema=schema)
        store.write_partition("raw", dataset, day, table)
        rows += table.num_rows
    context.log.info(f"landed {rows:,} rows of raw/{dataset} over {len(days)} day(s)")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": len(days),
            "seconds": round(time.perf_counter() - started, 3),
            "lake": dg.MetadataValue.path(store.partition_dir("raw", dataset, days[0])),
        }
    )


# numeric(4,1) bathrooms arrive as Decimal; the lake keeps measures as doubles.
_RAW_LEAD_COLUMNS = ", ".join(
    f"{field.name}::float8 as {field.name}" if field.type == pa.float64() else field.name
    for field in RAW_LEAD_SCHEMA
)


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    deps=[APP_LEADS],
    group_name="lake",
    kinds={"parquet"},
)
def raw_leads(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> dg.MaterializeResult:
    """The day's leads from app.leads, landed in the lake's raw zone."""
    return land_days(
        context, postgres, lake,
        query=f"select {_RAW_LEAD_COLUMNS} from app.leads "
        "where received_at >= %s and received_at < %s order by lead_id",
        time_column="received_at", dataset="leads", schema=RAW_LEAD_SCHEMA,
    )  # fmt: skip


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    deps=[APP_STAGE_EVENTS, APP_LEADS],
    group_name="lake",
    kinds={"parquet"},
)
def lead_stage_events(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> dg.MaterializeResult:
    """The day's funnel stage events, with the lead's source ids, in the lake's raw zone."""
    return land_days(
        context, postgres, lake,
        query="""select e.event_id, e.lead_id, l.external_id, l.source, e.stage, e.occurred_at,
                        (e.occurred_at at time zone 'UTC')::date as occurred_date
                 from app.stage_events as e join app.leads as l using (lead_id)
                 where e.occurred_at >= %s and e.occurred_at < %s order by e.event_id""",
        time_column="occurred_at", dataset="stage_events", schema=STAGE_EVENT_SCHEMA,
    )  # fmt: skip
