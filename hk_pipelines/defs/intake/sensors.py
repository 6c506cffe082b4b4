"""Sensors that start runs for the partitions new intake rows touch (cursor on the row id)."""

import dagster as dg

from hk_pipelines.defs.common.resources import PostgresResource

lead_pipeline_job = dg.define_asset_job(
    "lead_pipeline",
    selection=dg.AssetSelection.assets("raw_leads").downstream(),
    description="Land, enrich and load the leads of the selected days.",
)
stage_event_pipeline_job = dg.define_asset_job(
    "stage_event_pipeline",
    selection=dg.AssetSelection.assets("lead_stage_events").downstream(),
    description="Land and load the stage events of the selected days.",
)


def _new_days(postgres: PostgresResource, table: str, id_column: str, at: str, cursor: int):
    with postgres.connect() as conn:
        return conn.execute(
            f"select ({at} at time zone 'UTC')::date as day, max({id_column}) "
            f"from {table} where {id_column} > %s group by 1 order by 1",
            (cursor,),
        ).fetchall()


@dg.sensor(job=lead_pipeline_job, minimum_interval_seconds=30)
def new_leads_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    """New rows in app.leads start the lead pipeline for the days they were received."""
    cursor = int(context.cursor or 0)
    days = _new_days(postgres, "app.leads", "lead_id", "received_at", cursor)
    for day, max_id in days:
        yield dg.RunRequest(partition_key=day.isoformat(), run_key=f"leads-{day}-{max_id}")
    if days:
        context.update_cursor(str(max(max_id for _, max_id in days)))


@dg.sensor(job=stage_event_pipeline_job, minimum_interval_seconds=30)
def new_stage_events_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    """New rows in app.stage_events start the event pipeline for the days they happened."""
    cursor = int(context.cursor or 0)
    days = _new_days(postgres, "app.stage_events", "event_id", "occurred_at", cursor)
    for day, max_id in days:
        yield dg.RunRequest(partition_key=day.isoformat(), run_key=f"events-{day}-{max_id}")
    if days:
        context.update_cursor(str(max(max_id for _, max_id in days)))
