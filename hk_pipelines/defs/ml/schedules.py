"""Training weekly, rescoring nightly; both can be switched on and off in the UI."""

import dagster as dg

from hk_pipelines.defs.ml.assets import lead_conversion_model, lead_scores

# The CRM's table is rebuilt from the new scores in the same run.
CRM_TABLES = dg.AssetSelection.assets("stg_lead_scores", "scored_leads")

training_job = dg.define_asset_job(
    "train_lead_conversion",
    selection=dg.AssetSelection.assets(lead_conversion_model, lead_scores) | CRM_TABLES,
    description="Train, gate (a promotion rescored at once), rebuild scored_leads.",
)
rescoring_job = dg.define_asset_job(
    "rescore_leads",
    selection=dg.AssetSelection.assets(lead_scores) | CRM_TABLES,
    description="Score every open lead with the champion and rebuild scored_leads.",
)

weekly_training = dg.ScheduleDefinition(
    name="weekly_training",
    job=training_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
nightly_rescoring = dg.ScheduleDefinition(
    name="nightly_rescoring",
    job=rescoring_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
