"""Running the pipelines outside the UI: the instance on the platform database, and
materialisations over the days that have data (for `hk pipeline run` and `hk demo`)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg

from hk_core.db import database_url, with_driver, with_query
from hk_core.settings import get_settings
from hk_pipelines.defs.common.partitions import FIRST_DAY
from hk_pipelines.defs.common.resources import build_resources
from hk_pipelines.defs.enrichment.assets import enriched_leads
from hk_pipelines.defs.intake.assets import lead_stage_events, raw_leads
from hk_pipelines.defs.marts.assets import dbt_daily_models, dbt_models
from hk_pipelines.defs.ml.assets import champion_gate, lead_conversion_model, lead_scores
from hk_pipelines.defs.ml.checks import FEATURE_DRIFT, SCORE_DRIFT, champion_drift_checks
from hk_pipelines.defs.quality.checks import enriched_leads_expectations, raw_leads_expectations
from hk_pipelines.defs.warehouse.assets import (
    warehouse_deals,
    warehouse_enriched_leads,
    warehouse_lead_stage_events,
)

DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

LEAD_ASSETS = [raw_leads, enriched_leads, warehouse_enriched_leads]
# Blocking: a failed check keeps the run's days out of the warehouse (docs/data-quality.md).
LEAD_CHECKS = [raw_leads_expectations, enriched_leads_expectations]
EVENT_ASSETS = [lead_stage_events, warehouse_lead_stage_events]
# dbt: staging and the incremental marts per day range, then the rest in one build, after the
# deals snapshot it reads (the dbt source names warehouse_deals, so Dagster orders the two).
DAILY_MART_ASSETS = [dbt_daily_models]
MART_ASSETS = [warehouse_deals, dbt_models]
# train + gate; then score with the champion (drift checked) and rebuild the CRM's table.
TRAINING_ASSETS = [lead_conversion_model, champion_gate]
SCORING_ASSETS = [lead_scores, dbt_models, champion_drift_checks]
SCORING_SELECTION = dg.AssetSelection.assets(lead_scores, "stg_lead_scores", "scored_leads")


def prepare_dagster_home() -> Path:
    """DAGSTER_HOME under HK_HOME with our dagster.yaml, storage in the platform database."""
    settings = get_settings()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    # dagster-postgres needs psycopg2: SQLAlchemy 2.1 would pick psycopg 3 for postgresql://.
    # Run bookkeeping commits one event per partition; waiting for an fsync on each made a
    # two-year backfill spend minutes on the event log. Losing the last events of a crash is
    # acceptable for run history (the data itself is written by the assets, durably).
    os.environ["HK_DAGSTER_PG_URL"] = with_query(
        with_driver(database_url(), "psycopg2"), options="-c synchronous_commit=off"
    )
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home


@dataclass
class PipelineRun:
    name: str
    first_day: date | None
    last_day: date | None
    run_id: str | None
    success: bool
    skipped_before_first_day: int = 0
    note: str = ""


def _day_range(conninfo: str, table: str, column: str) -> tuple[date | None, date | None, int]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            f"select min(({column} at time zone 'UTC')::date), max(({column} at time zone 'UTC')::date), "
            f"count(*) filter (where {column} < %s::date) from {table}",
            (FIRST_DAY,),
        ).fetchone()
    assert row is not None
    first, last, early = row
    if first is not None and first < date.fromisoformat(FIRST_DAY):
        first = date.fromisoformat(FIRST_DAY)
    return first, last, early


def materialize_all(
    assets: list, instance: dg.DagsterInstance, selection: dg.AssetSelection | None = None
) -> dg.ExecuteInJobResult:
    """One run of unpartitioned assets."""
    return dg.materialize(
        assets,
        selection=selection,
        instance=instance,
        resources=build_resources(),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )


def materialize_days(
    assets: list, first: date, last: date, instance: dg.DagsterInstance
) -> dg.ExecuteInJobResult:
    """One run over a range of daily partitions (the assets' single-run backfill policy)."""
    return dg.materialize(
        assets,
        instance=instance,
        resources=build_resources(),
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        # Step and partition events are DEBUG; the assets' own progress lines are INFO.
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )


def run_everything(
    instance: dg.DagsterInstance | None = None,
    *,
    first: date | None = None,
    last: date | None = None,
    train: bool = True,
) -> list[PipelineRun]:
    """Materialise every asset, in dependency order, over the days that have data (or the
    given range)."""
    conninfo = database_url()
    instance = instance or dg.DagsterInstance.get()
    # dagster-postgres opens a connection per event unless asked to pool like the webserver
    # does; a backfill writes an event per partition, so this halves its bookkeeping time.
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    runs = []
    spans: list[tuple[date, date]] = []
    for name, assets, table, column in (
        ("leads", [*LEAD_ASSETS, *LEAD_CHECKS], "app.leads", "received_at"),
        ("stage events", EVENT_ASSETS, "app.stage_events", "occurred_at"),
    ):
        data_first, data_last, early = _day_range(conninfo, table, column)
        start, end = first or data_first, last or data_last
        if start is None or end is None:
            runs.append(PipelineRun(name, None, None, None, True, early))
            continue
        if start > end:
            start, end = end, start
        end = min(end, date.today() + timedelta(days=1))
        result = materialize_days(assets, start, end, instance)
        runs.append(PipelineRun(name, start, end, result.run_id, result.success, early))
        spans.append((start, end))
    if not spans or not all(run.success for run in runs):
        return runs
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    result = materialize_days(DAILY_MART_ASSETS, start, end, instance)
    runs.append(PipelineRun("marts (daily)", start, end, result.run_id, result.success))
    if result.success:
        result = materialize_all(MART_ASSETS, instance)
        runs.append(PipelineRun("marts", start, end, result.run_id, result.success))
    if result.success and train:
        runs.extend(train_and_score(instance))
    return runs


def train_and_score(instance: dg.DagsterInstance) -> list[PipelineRun]:
    """Train and gate the model, then rescore with whichever model is champion."""
    from ml.workflow import MIN_POSITIVES, MIN_TRAINING_LEADS

    with psycopg.connect(database_url()) as conn:
        row = conn.execute(
            "select count(*), count(*) filter (where is_converted) from marts.lead_training_set"
        ).fetchone()
    n_leads, n_positive = row if row else (0, 0)
    if n_leads < MIN_TRAINING_LEADS or n_positive < MIN_POSITIVES:
        note = (
            f"skipped: {n_leads:,} matured leads with {n_positive:,} conversions; training "
            f"needs {MIN_TRAINING_LEADS:,} and {MIN_POSITIVES:,}"
        )
        return [PipelineRun("model training + gate", None, None, None, True, note=note)]
    result = materialize_all(TRAINING_ASSETS, instance)
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name == "champion_gate"]
    model_built = any(result.get_asset_materialization_events())
    refused = bool(gate) and not gate[0].passed
    # A refused candidate is the gate doing its job, not a failed run: the champion stays.
    ok = result.success or (model_built and refused)
    note = gate[0].description or "" if gate else ""
    runs = [PipelineRun("model training + gate", None, None, result.run_id, ok, note=note)]
    if ok and not _has_champion():
        runs.append(PipelineRun("scoring", None, None, None, True, note="skipped: no champion"))
    elif ok:
        scoring = materialize_all(SCORING_ASSETS, instance, SCORING_SELECTION)
        drift = "; ".join(
            f"{e.check_name} {'ok' if e.passed else e.severity.value.lower()}: {e.description}"
            for e in scoring.get_asset_check_evaluations()
            if e.check_name in (FEATURE_DRIFT, SCORE_DRIFT)
        )
        runs.append(PipelineRun("scoring", None, None, scoring.run_id, scoring.success, note=drift))
    return runs


def _has_champion() -> bool:
    from mlflow.exceptions import MlflowException

    from ml.registry import CHAMPION, MODEL_NAME, configure, tracking_uri

    try:
        model = configure(tracking_uri(get_settings())).get_registered_model(MODEL_NAME)
    except MlflowException:
        return False
    return CHAMPION in model.aliases
