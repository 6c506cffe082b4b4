"""The lead-conversion model: training, the promotion gate, nightly rescoring, drift."""

import dagster as dg

from hk_pipelines.defs.ml.assets import champion_gate, lead_conversion_model, lead_scores
from hk_pipelines.defs.ml.checks import champion_drift_checks
from hk_pipelines.defs.ml.schedules import (
    nightly_rescoring,
    rescoring_job,
    training_job,
    weekly_training,
)
from hk_pipelines.defs.ml.sensors import drift_retraining

defs = dg.Definitions(
    assets=[lead_conversion_model, lead_scores],
    asset_checks=[champion_gate, champion_drift_checks],
    jobs=[training_job, rescoring_job],
    schedules=[weekly_training, nightly_rescoring],
    sensors=[drift_retraining],
)
