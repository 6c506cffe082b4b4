"""Drift of the champion's inputs and scores: the recent leads against its training rows.

The reference is the run's ``drift_reference.json`` (``ml.drift``, logged at training). The
recent window is the ``window_days`` before the newest lead in ``marts.lead_features``: for a
live book that is the last month, and an old book is judged as of its own end, as the label
is. The scores are the champion's in ``ml.lead_scores`` for those leads. Each measurement is
also an MLflow run (experiment ``lead_conversion_drift``): one metric per feature and a bar
chart, so drift has a history beside the model's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import psycopg
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ml.data import KEY_FIELDS, lead_feature_schema, read_arrow
from ml.drift import REFERENCE_FILE, SCORE, DriftReport, measure_drift
from ml.registry import MODEL_NAME, LoadedModel, configure, ensure_experiment

DRIFT_EXPERIMENT = "lead_conversion_drift"
DEFAULT_WINDOW_DAYS = 30
N_SHOWN = 25  # features in the chart, largest PSI first

_WINDOW_SQL = """
select {columns} from marts.lead_features
where received_at > (select max(received_at) from marts.lead_features) - make_interval(days => {days})
"""
_SCORES_SQL = """
select s.score from ml.lead_scores as s
join marts.lead_features as f on f.lead_id = s.lead_id
where f.received_at > (select max(received_at) from marts.lead_features) - make_interval(days => %s)
    and s.model_name = %s and s.model_version = %s
"""


@dataclass(frozen=True)
class ChampionDrift:
    report: DriftReport | None  # None: the champion's run kept no reference
    model_version: str
    model_kind: str
    window_days: int
    why_not: str | None = None  # why there is no report


def load_reference(uri: str, model_name: str, version: str) -> dict[str, Any] | None:
    """The drift reference logged with the run that produced ``version`` (None if absent)."""
    client = configure(uri)
    run_id = client.get_model_version(model_name, version).run_id
    if not run_id:
        return None
    names = {a.path for a in client.list_artifacts(run_id)}
    if REFERENCE_FILE not in names:
        return None
    return dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{REFERENCE_FILE}"))


def champion_drift(
    conninfo: str, uri: str, champion: LoadedModel, window_days: int = DEFAULT_WINDOW_DAYS
) -> ChampionDrift:
    """PSI of every model feature and of the score over the recent window."""
    assert champion.version is not None
    name, version, kind = champion.name or MODEL_NAME, champion.version, champion.model.kind
    reference = load_reference(uri, name, version)
    if reference is None:
        return ChampionDrift(None, version, kind, window_days, "its run kept no drift reference")
    features = champion.model.encoder.features
    schema = pa.schema(
        [KEY_FIELDS[0], *(lead_feature_schema(features).field(f.name) for f in features)]
    )
    columns = ", ".join(schema.names)
    recent = read_arrow(
        conninfo, _WINDOW_SQL.format(columns=columns, days=int(window_days)), schema
    )
    with psycopg.connect(conninfo) as conn:
        scores = np.array(
            [row[0] for row in conn.execute(_SCORES_SQL, (int(window_days), name, version))],
            dtype=np.float64,
        )
    report = measure_drift(reference, recent, scores, kind)
    return ChampionDrift(report, version, kind, window_days)


def log_drift(uri: str, drift: ChampionDrift, artifacts: str) -> str | None:
    """The measurement as an MLflow run: ``psi_<feature>`` and ``psi_score`` metrics and a
    bar chart; returns the run id (None when there was nothing to measure)."""
    report = drift.report
    if report is None:
        return None
    client = configure(uri)
    experiment_id = ensure_experiment(client, DRIFT_EXPERIMENT, artifacts)
    at = datetime.now(UTC)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"drift v{drift.model_version} {at:%Y-%m-%d %H:%M}"
    ) as run:
        mlflow.set_tags({"model_name": MODEL_NAME, "model_version": drift.model_version,
                         "model_kind": drift.model_kind})  # fmt: skip
        mlflow.log_params({"window_days": drift.window_days, "n_current": report.n_current,
                           "n_reference": report.n_reference})  # fmt: skip
        metrics = {f"psi_{name}": value for name, value in report.feature_psi.items()}
        if report.score_psi is not None:
            metrics[f"psi_{SCORE}"] = report.score_psi
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory(prefix="hk-drift-") as scratch:
            mlflow.log_artifact(str(_chart(report, Path(scratch) / "psi.png")), "plots")
    return str(run.info.run_id)


def _chart(report: DriftReport, path: Path) -> Path:
    shown = list(report.feature_psi.items())[:N_SHOWN]
    if report.score_psi is not None:
        shown = [(SCORE, report.score_psi), *shown]
    shown = shown[::-1]
    figure = Figure(figsize=(7, 0.3 * len(shown) + 1.5))
    axes = figure.add_subplot()
    axes.barh([name for name, _ in shown], [value for _, value in shown], color="tab:blue")
    for threshold, colour in ((0.1, "orange"), (0.25, "red")):
        axes.axvline(threshold, linestyle="--", color=colour)
    axes.set(xlabel="population stability index", title="drift: recent leads vs training rows")
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(str(path))
    return path
