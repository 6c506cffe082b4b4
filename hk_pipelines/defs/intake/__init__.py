"""Leads and stage events from the operational tables into the lake's raw zone."""

import dagster as dg

from hk_pipelines.defs.intake.assets import (
    APP_LEADS,
    APP_STAGE_EVENTS,
    lead_stage_events,
    raw_leads,
)
from hk_pipelines.defs.intake.sensors import (
    lead_pipeline_job,
    new_leads_sensor,
    new_stage_events_sensor,
    stage_event_pipeline_job,
)

defs = dg.Definitions(
    assets=[APP_LEADS, APP_STAGE_EVENTS, raw_leads, lead_stage_events],
    jobs=[lead_pipeline_job, stage_event_pipeline_job],
    sensors=[new_leads_sensor, new_stage_events_sensor],
)
