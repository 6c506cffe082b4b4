"""The warehouse landing tables (raw.*) that dbt reads."""

import dagster as dg

from hk_pipelines.defs.warehouse.assets import (
    APP_DEALS,
    warehouse_deals,
    warehouse_enriched_leads,
    warehouse_lead_stage_events,
)

defs = dg.Definitions(
    assets=[APP_DEALS, warehouse_enriched_leads, warehouse_lead_stage_events, warehouse_deals]
)
