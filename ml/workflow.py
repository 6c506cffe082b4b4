"""The steps a training run takes, as plain functions: the Dagster assets call them, and so
does the notebook, so a data scientist reproduces exactly what the schedule does."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from mlflow.tracking import MlflowClient

from ml.data import lead_feature_schema, read_arrow, time_split
from ml.drift import REFERENCE_FILE, drift_reference
from ml.evaluation import evaluate, mean_abs_contribution, save_plots
from ml.gate import GateDecision, evaluate_gate, record_decision
from ml.registry import (
    BASELINE_URI_TAG,
    CHALLENGER,
    CHAMPION,
    KIND_TAG,
    MODEL_NAME,
    LoggedModel,
    configure,
    load_champion,
    load_trained_model,
    log_training_run,
    register_baseline,
)
from ml.training import TrainedModel, labels, train_baseline, train_xgboost

TRAINING_SET = "marts.lead_training_set"
HOLDOUT_FRACTION = 0.2  # the gate judges on the most recent fifth of matured leads
VALID_FRACTION = 0.2  # early stopping on the next most recent fifth of the rest
MIN_TRAINING_LEADS = 200
MIN_POSITIVES = 10
KIND_NAMES = {"xgboost": "XGBoost", "logistic": "logistic baseline"}


@dataclass(frozen=True)
class Splits:
    train: pa.Table
    valid: pa.Table
    holdout: pa.Table


@dataclass(frozen=True)
class GateOutcome:
    """What the gate decided, and which version is champion after it."""

    decision: GateDecision
    challenger_version: str
    champion_version: str | None
    champion_kind: str | None

    def summary(self) -> str:
        """One line for a person: which model is champion and why."""
        return champion_summary(
            self.champion_version, self.champion_kind, self.decision.promote, self.decision.reason
        )


def champion_summary(version: str | None, kind: str | None, promoted: bool, reason: str) -> str:
    """ "champion v2 (logistic baseline) promoted: <the gate's reason>", or why there is none."""
    if version is None:
        return f"no champion: {reason}"
    kind_name = KIND_NAMES.get(kind or "", kind or "model")
    return f"champion v{version} ({kind_name}) {'promoted' if promoted else 'kept'}: {reason}"


@dataclass(frozen=True)
class TrainingResult:
    model: TrainedModel
    baseline: TrainedModel
    splits: Splits
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    logged: LoggedModel


def champion_line(client: MlflowClient, model_name: str = MODEL_NAME) -> str:
    """The registry's last gate decision in one line: which model is champion and why."""
    champion, kind = _champion(client, model_name)
    judged = [
        v for v in client.search_model_versions(f"name = '{model_name}'")
        if "gate.reason" in v.tags and v.tags.get(KIND_TAG, "xgboost") == "xgboost"
    ]  # fmt: skip
    if not judged:
        return "no gate decision yet" if champion is None else f"champion v{champion}"
    last = max(judged, key=lambda v: int(v.version))
    return champion_summary(
        champion,
        kind,
        last.tags.get("gate.promoted") == "true",
        last.tags["gate.reason"],
    )


def load_training_set(conninfo: str, relation: str = TRAINING_SET) -> pa.Table:
    return read_arrow(conninfo, relation, lead_feature_schema(label=True))


def split(training_set: pa.Table) -> Splits:
    """By arrival time: train on the oldest, stop early on the next, judge on the newest."""
    older, holdout = time_split(training_set, HOLDOUT_FRACTION)
    train, valid = time_split(older, VALID_FRACTION)
    return Splits(train, valid, holdout)


def check_enough(training_set: pa.Table) -> None:
    """A clear refusal instead of a meaningless model on too little data."""
    positives = int(labels(training_set).sum()) if training_set.num_rows else 0
    if training_set.num_rows < MIN_TRAINING_LEADS or positives < MIN_POSITIVES:
        raise ValueError(
            f"the training set has {training_set.num_rows:,} matured leads and {positives:,} "
            f"conversions; training needs at least {MIN_TRAINING_LEADS:,} and {MIN_POSITIVES:,}"
        )


def train_and_register(
    training_set: pa.Table,
    *,
    uri: str,
    artifacts: str,
    xgb_params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
) -> TrainingResult:
    """Train the challenger and the baseline, evaluate both on the holdout, log the run with
    its plots, register the model and point ``challenger`` at it."""
    check_enough(training_set)
    splits = split(training_set)
    model = train_xgboost(splits.train, splits.valid, xgb_params)
    baseline = train_baseline(splits.train)
    y = labels(splits.holdout)
    scores = model.predict_proba(splits.holdout)
    metrics = evaluate(y, scores)
    baseline_metrics = evaluate(y, baseline.predict_proba(splits.holdout))
    matrix = model.encoder.transform_arrow(splits.holdout)
    importance = mean_abs_contribution(model.contributions(matrix), model.feature_names)
    # What the features and scores looked like on the rows the models were fit on: the
    # drift checks compare recent leads with it (ml.drift).
    reference = drift_reference(
        splits.train,
        model.encoder.features,
        {
            model.kind: model.predict_proba(splits.train),
            baseline.kind: baseline.predict_proba(splits.train),
        },
        {f.name: model.encoder.levels(f.name) for f in model.encoder.features
         if f.kind == "categorical"},
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hk-plots-") as scratch:
        plots = save_plots(Path(scratch), y, scores, importance)
        logged = log_training_run(
            model,
            uri=uri,
            artifacts=artifacts,
            metrics=metrics,
            example=splits.holdout,
            baseline_metrics=baseline_metrics,
            plots=plots,
            params={
                "n_train": splits.train.num_rows,
                "n_valid": splits.valid.num_rows,
                "n_holdout": splits.holdout.num_rows,
            },
            run_name=run_name,
            baseline=baseline,
            extra_artifacts={REFERENCE_FILE: reference},
        )
    return TrainingResult(model, baseline, splits, metrics, baseline_metrics, logged)


def gate_challenger(
    training_set: pa.Table, *, uri: str, margin: float, model_name: str = MODEL_NAME
) -> GateOutcome:
    """Judge the registered challenger and its run's baseline against the champion on the
    same recent holdout, record the decision on the version, and move ``champion`` to the
    better candidate if it wins (registering the baseline first when it is that candidate).

    The baseline's holdout metrics are the ones logged with the challenger's run (same rows).
    """
    challenger = load_trained_model(f"models:/{model_name}@{CHALLENGER}", uri)
    assert challenger.version is not None
    champion = load_champion(uri, model_name)
    if champion is not None and champion.version == challenger.version:
        champion = None  # the gate re-run on the champion itself: judge it against the baseline
    client = configure(uri)
    version = client.get_model_version(model_name, challenger.version)
    run = client.get_run(str(version.run_id))
    baseline_metrics = {
        key.removeprefix("baseline_"): value
        for key, value in run.data.metrics.items()
        if key.startswith("baseline_")
    }
    if not baseline_metrics:
        raise ValueError(f"version {challenger.version} has no baseline_* metrics to beat")
    holdout = split(training_set).holdout
    decision = evaluate_gate(
        challenger.model,
        None if champion is None else champion.model,
        baseline_metrics,
        holdout,
        margin,
        baseline_can_serve=BASELINE_URI_TAG in run.data.tags,
    )
    promoted = None
    if decision.promotes_baseline:
        promoted = register_baseline(uri, str(version.run_id), model_name)
    record_decision(uri, decision, challenger.version, model_name, promoted_version=promoted)
    return GateOutcome(decision, challenger.version, *_champion(client, model_name))


def _champion(client: MlflowClient, model_name: str) -> tuple[str | None, str | None]:
    """(version, kind) of the champion now, or (None, None). Versions logged before kinds
    were tagged are XGBoost."""
    version = client.get_registered_model(model_name).aliases.get(CHAMPION)
    if version is None:
        return None, None
    tags = client.get_model_version(model_name, str(version)).tags
    return str(version), tags.get(KIND_TAG, "xgboost")
