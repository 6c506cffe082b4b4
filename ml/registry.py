"""MLflow tracking and registry: where runs live, logging a trained model, loading it back.

The tracking store is MLflow's database store in the platform's Postgres server, in its own
database ``<platform db>_mlflow`` (MLflow 3 refuses its file store); artifacts go to the lake
under ``models/``. Versions move between roles by alias (``challenger``, ``champion``), never
by stage (deprecated in MLflow 3).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pyarrow as pa
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from hk_core.db import mlflow_tracking_url
from hk_core.settings import Settings
from ml import pyfunc_model
from ml.model_files import load_model_dir
from ml.training import TrainedModel

MODEL_NAME = "lead_conversion"
EXPERIMENT_NAME = "lead_conversion"
CHAMPION = "champion"
CHALLENGER = "challenger"
PYFUNC_NAME = "model"  # the logged model's name within its run
BASELINE_NAME = "baseline"  # the baseline's logged model in the same run (registered if it wins)
BASELINE_URI_TAG = "baseline_model_uri"  # run tag: where that logged baseline is
KIND_TAG = "model.kind"  # version tag: xgboost or logistic


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    model_id: str
    model_uri: str  # models:/m-<id>
    name: str
    version: str


@dataclass(frozen=True)
class LoadedModel:
    """A registered version, loaded as our fast ``TrainedModel`` (not the pyfunc wrapper)."""

    model: TrainedModel
    name: str | None
    version: str | None
    uri: str


def tracking_uri(settings: Settings) -> str:
    """``HK_MLFLOW_TRACKING_URI`` if set, else the database store next to the platform's,
    creating its ``<db>_mlflow`` database when missing (``hk_core.db.mlflow_tracking_url``)."""
    return mlflow_tracking_url(settings, create=True)


def artifact_root(settings: Settings) -> str:
    """Model artifacts in the lake: a local folder or ``s3://…`` (MLflow reads
    ``MLFLOW_S3_ENDPOINT_URL`` for a non-AWS endpoint)."""
    return f"{settings.lake_root.rstrip('/')}/models"


def configure(uri: str) -> MlflowClient:
    """Point MLflow's fluent API (which ``log_model`` needs) and a client at ``uri``."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, artifacts: str) -> str:
    """The experiment's id, creating it with its artifacts under ``artifacts`` if missing.

    The location is fixed at creation: MLflow's default (``./mlruns`` of whatever process
    created it first) would scatter models over working directories.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=f"{artifacts}/{name}"))
    except MlflowException:
        experiment = client.get_experiment_by_name(name)  # created concurrently
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def log_training_run(
    model: TrainedModel,
    *,
    uri: str,
    artifacts: str,
    metrics: Mapping[str, float],
    example: pa.Table,
    baseline_metrics: Mapping[str, float] | None = None,
    plots: Mapping[str, Path] | None = None,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    experiment_name: str = EXPERIMENT_NAME,
    model_name: str = MODEL_NAME,
    baseline: TrainedModel | None = None,
    extra_artifacts: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Log a run (params, metrics, plots, feature list, encoder, pyfunc model), register the
    model as a new version of ``model_name`` and point the ``challenger`` alias at it.

    ``metrics`` are the model's on the holdout, ``baseline_metrics`` the baseline's on the
    same rows (logged as ``baseline_<name>``). ``baseline``, when given, is logged in the same
    run as a second pyfunc model (``baseline``), not registered: the gate registers it if it
    wins (``register_baseline``). ``extra_artifacts`` are JSON documents by file name.
    """
    client = configure(uri)
    experiment_id = ensure_experiment(client, experiment_name, artifacts)
    encoder = model.encoder
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params({**model.params, **(params or {}), "min_count": encoder.min_count})
        mlflow.log_params({"n_features": len(encoder.features), "n_columns": encoder.n_columns})
        mlflow.log_dict(encoder.to_dict()["features"], "features.json")
        mlflow.log_dict(encoder.to_dict(), "encoder.json")
        for file_name, document in (extra_artifacts or {}).items():
            mlflow.log_dict(document, file_name)
        for path in (plots or {}).values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        with tempfile.TemporaryDirectory(prefix="hk-model-") as scratch:
            info = mlflow.pyfunc.log_model(
                name=PYFUNC_NAME,
                python_model=pyfunc_model.LeadConversionModel(),
                artifacts=pyfunc_model.save_model_files(model, Path(scratch)),
                signature=pyfunc_model.model_signature(encoder),
                input_example=pyfunc_model.input_example(example, encoder),
                pip_requirements=pyfunc_model.pip_requirements(),
                registered_model_name=model_name,
            )
        # Logged after the model so that MLflow 3 links them to it (shown on the model page).
        all_metrics = {
            **metrics,
            **{f"baseline_{k}": v for k, v in (baseline_metrics or {}).items()},
        }
        mlflow.log_metrics(dict(all_metrics), model_id=info.model_id)
        if baseline is not None:
            with tempfile.TemporaryDirectory(prefix="hk-baseline-") as scratch:
                baseline_info = mlflow.pyfunc.log_model(
                    name=BASELINE_NAME,
                    python_model=pyfunc_model.LeadConversionModel(),
                    artifacts=pyfunc_model.save_model_files(baseline, Path(scratch)),
                    signature=pyfunc_model.model_signature(baseline.encoder),
                    input_example=pyfunc_model.input_example(example, baseline.encoder),
                    pip_requirements=pyfunc_model.pip_requirements(),
                )
            # The same baseline_* keys, linked to the baseline's logged model too. Its plain
            # names would overwrite the challenger's run metrics (one value per key per run).
            mlflow.log_metrics(
                {f"baseline_{k}": v for k, v in (baseline_metrics or {}).items()},
                model_id=baseline_info.model_id,
            )
            mlflow.set_tag(BASELINE_URI_TAG, baseline_info.model_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(model_name, version, KIND_TAG, model.kind)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return LoggedModel(run.info.run_id, info.model_id, info.model_uri, model_name, version)


def register_baseline(uri: str, run_id: str, model_name: str = MODEL_NAME) -> str:
    """The registered version of the baseline logged in ``run_id``, registering it the first
    time (a gate re-run on the same run finds the version it registered before)."""
    client = configure(uri)
    run = client.get_run(run_id)
    source = run.data.tags.get(BASELINE_URI_TAG)
    if not source:
        raise ValueError(f"run {run_id} logged no baseline model to register")
    for found in client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'"):
        if found.tags.get(KIND_TAG) == "logistic":
            return str(found.version)
    registered = mlflow.register_model(source, model_name)
    version = str(registered.version)
    client.set_model_version_tag(model_name, version, KIND_TAG, "logistic")
    return version


def _parse_registered(uri: str) -> tuple[str, str | None, str | None] | None:
    """``models:/name@alias`` → (name, alias, None); ``models:/name/3`` → (name, None, '3')."""
    if not uri.startswith("models:/"):
        return None
    path = uri[len("models:/") :].strip("/")
    if "@" in path:
        name, alias = path.split("@", 1)
        return name, alias, None
    name, _, number = path.partition("/")
    if number.isdigit():
        return name, None, number
    return None  # models:/m-<id>: a logged model, not a registered version


def load_trained_model(model_uri: str, uri: str) -> LoadedModel:
    """Our ``TrainedModel`` (encoder + booster) from ``models:/lead_conversion@champion``,
    ``models:/lead_conversion/3`` or ``models:/m-<id>``, with its registered version."""
    client = configure(uri)
    registered = _parse_registered(model_uri)
    name = number = None
    source = model_uri
    if registered is not None:
        name, alias, number = registered
        found = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, str(number))
        )
        # Resolve once and download that version: the alias may move while we read.
        number, source = str(found.version), str(found.source)
    with tempfile.TemporaryDirectory(prefix="hk-model-") as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=scratch))
        model = load_model_dir(local / "artifacts")
    return LoadedModel(model, name, number, model_uri)


def load_champion(uri: str, model_name: str = MODEL_NAME) -> LoadedModel | None:
    """The current champion, or None before the first promotion."""
    client = configure(uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None  # nothing registered yet
        raise
    # Asking for a missing alias directly fails with INVALID_PARAMETER_VALUE, the same code
    # as a malformed request: read the model's aliases instead of catching that.
    if CHAMPION not in aliases:
        return None
    return load_trained_model(f"models:/{model_name}/{aliases[CHAMPION]}", uri)
