"""A drift check that errors asks for a retraining run."""

import dagster as dg

from hk_pipelines.defs.ml.assets import lead_scores
from hk_pipelines.defs.ml.checks import FEATURE_DRIFT, SCORE_DRIFT
from hk_pipelines.defs.ml.schedules import training_job

DRIFT_CHECKS = [dg.AssetCheckKey(lead_scores.key, name) for name in (FEATURE_DRIFT, SCORE_DRIFT)]


def drift_errors(instance: dg.DagsterInstance, after: int) -> list[tuple[int, str]]:
    """(record id, check name) of the latest drift evaluations newer than ``after`` that
    failed with ERROR severity."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(DRIFT_CHECKS)
    errors = []
    for key, record in latest.items():
        event = record.event
        evaluation = event.asset_check_evaluation if event is not None else None
        if record.id <= after or evaluation is None or evaluation.passed:
            continue
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            errors.append((record.id, key.name))
    return errors


@dg.sensor(
    job=training_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a training run when a drift check on lead_scores fails with ERROR.",
)
def drift_retraining(context: dg.SensorEvaluationContext):
    """Retrain when the champion's features or score drifted past the error threshold."""
    after = int(context.cursor or 0)
    errors = drift_errors(context.instance, after)
    if not errors:
        return dg.SkipReason("no drift check has failed with ERROR since the last request")
    newest = max(record_id for record_id, _ in errors)
    context.update_cursor(str(newest))
    names = ", ".join(sorted({name for _, name in errors}))
    return dg.RunRequest(run_key=f"drift-{newest}", tags={"hk/trigger": f"drift: {names}"})
