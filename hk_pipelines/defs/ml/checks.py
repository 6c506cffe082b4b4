"""Drift of the champion's inputs and scores, as checks on the scoring asset."""

import dagster as dg

from hk_pipelines.defs.common.resources import MlflowResource, PostgresResource
from hk_pipelines.defs.ml.assets import lead_scores

FEATURE_DRIFT = "feature_drift"
SCORE_DRIFT = "score_drift"


class DriftConfig(dg.Config):
    # Population stability index thresholds (the usual rule of thumb): a shift worth a look,
    # and a population the model was not trained on (requests a retraining run).
    warn_psi: float = 0.1
    error_psi: float = 0.25
    window_days: int = 30
    # Below this many recent leads a PSI is mostly noise (ten bins): the checks pass, saying so.
    min_leads: int = 200


def _result(
    name: str, psi: float | None, detail: dict, config: DriftConfig, what: str
) -> dg.AssetCheckResult:
    if psi is None:
        return dg.AssetCheckResult(
            check_name=name, passed=True, description=f"not measured: {what}", metadata=detail
        )
    severity = (
        dg.AssetCheckSeverity.ERROR if psi >= config.error_psi else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(
        check_name=name,
        passed=psi < config.warn_psi,
        severity=severity,
        description=f"{what}: PSI {psi:.3f} (warn at {config.warn_psi:g}, error at {config.error_psi:g})",
        metadata={"psi": psi, **detail},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            FEATURE_DRIFT,
            asset=lead_scores,
            description="PSI of every model feature, recent leads vs training rows.",
        ),
        dg.AssetCheckSpec(
            SCORE_DRIFT,
            asset=lead_scores,
            description="PSI of the champion's score, recent leads vs training rows.",
        ),
    ],  # fmt: skip
)
def champion_drift_checks(
    context: dg.AssetCheckExecutionContext,
    config: DriftConfig,
    postgres: PostgresResource,
    mlflow_store: MlflowResource,
):
    """Population stability of the champion's features and score over the recent window."""
    from ml.monitoring import champion_drift, log_drift
    from ml.registry import load_champion

    uri = mlflow_store.uri()
    champion = load_champion(uri)
    if champion is None:
        for name in (FEATURE_DRIFT, SCORE_DRIFT):
            yield _result(name, None, {}, config, "no champion yet")
        return
    drift = champion_drift(postgres.conninfo(), uri, champion, config.window_days)
    report = drift.report
    base = {"model_version": drift.model_version, "model_kind": drift.model_kind,
            "window_days": config.window_days}  # fmt: skip
    if report is None or report.n_current < config.min_leads:
        why = drift.why_not or (
            f"{0 if report is None else report.n_current} recent leads, fewer than {config.min_leads}"
        )
        for name in (FEATURE_DRIFT, SCORE_DRIFT):
            yield _result(name, None, base, config, why)
        return
    run_id = log_drift(uri, drift, mlflow_store.artifacts())
    detail = {**base, "n_recent_leads": report.n_current, "n_training_rows": report.n_reference,
              "mlflow_run_id": run_id or "none"}  # fmt: skip
    worst = report.worst_feature
    context.log.info(
        f"drift over {config.window_days} days ({report.n_current:,} leads): worst feature "
        f"{worst[0] if worst else '-'} PSI {worst[1] if worst else 0:.3f}, score PSI "
        f"{report.score_psi if report.score_psi is not None else float('nan'):.3f}"
    )
    table = dg.TableMetadataValue(
        records=[
            dg.TableRecord({"feature": name, "psi": round(value, 4)})
            for name, value in report.feature_psi.items()
        ],  # fmt: skip
        schema=dg.TableSchema(
            columns=[dg.TableColumn("feature", "string"), dg.TableColumn("psi", "float")]
        ),  # fmt: skip
    )
    feature_detail = {**detail, "psi_by_feature": table,
                      "worst_feature": worst[0] if worst else "none"}  # fmt: skip
    yield _result(
        FEATURE_DRIFT,
        worst[1] if worst else 0.0,
        feature_detail,
        config,
        f"worst feature {worst[0]}" if worst else "no features",
    )
    yield _result(SCORE_DRIFT, report.score_psi, detail, config, "score")
