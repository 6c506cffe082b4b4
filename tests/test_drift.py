"""Drift checks on the scoring asset: quiet on an unchanged book, an error (and a retraining
request) when recent asking prices move up by 30 % (real Postgres, MLflow store, Dagster)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import psycopg
import pyarrow as pa
import pytest
from ml_fixtures import scored_marts_database

from hk_pipelines.defs.common.resources import PostgresResource
from hk_pipelines.defs.ml.assets import champion_gate, lead_conversion_model, lead_scores
from hk_pipelines.defs.ml.checks import champion_drift_checks
from hk_pipelines.defs.ml.sensors import drift_errors, drift_retraining
from ml.drift import Bins, categorical_bins, numeric_bins, population_stability
from ml.monitoring import DRIFT_EXPERIMENT
from ml.registry import configure

N_LEADS = 20_000
FAST = {"nthread": 1, "max_depth": 3, "learning_rate": 0.1}


def test_psi_is_zero_for_the_same_population_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    reference = rng.lognormal(12, 0.5, 50_000)
    bins = numeric_bins(reference)
    assert len(bins.shares) == 11 and abs(sum(bins.shares) - 1) < 1e-12
    assert bins.psi(rng.lognormal(12, 0.5, 5_000)) < 0.01
    assert bins.psi(rng.lognormal(12, 0.5, 5_000) * 1.3) > 0.25
    # Missing values have a bin of their own: a feature that stops arriving is drift too.
    with_gaps = reference.copy()
    with_gaps[: len(with_gaps) // 2] = np.nan
    assert bins.psi(with_gaps) > 0.25
    # Categories the training rows never had count as "other", not as nothing.
    colours = pa.array(["red"] * 500 + ["blue"] * 500)
    by_value = categorical_bins(colours, ["red", "blue"])
    assert by_value.psi(pa.array(["red"] * 500 + ["blue"] * 500)) == pytest.approx(0, abs=1e-12)
    assert by_value.psi(pa.array(["green"] * 300 + ["red"] * 700)) > 0.25
    assert Bins.from_dict(by_value.to_dict()) == by_value
    # An empty window is no evidence of drift.
    assert population_stability(np.array([0.5, 0.5]), np.zeros(2)) == 0.0


@pytest.fixture(scope="module")
def drift_db(server_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("drift-home")
    with scored_marts_database(
        server_url, "hk_drift", home, n_leads=N_LEADS, seed=7, closed_every=None
    ) as db:
        yield db


def _checks(result: dg.ExecuteInJobResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_drift_passes_unchanged_and_errors_on_asking_prices_up_30_percent(drift_db):
    url, store = drift_db
    resources = {"postgres": PostgresResource(url=url), "mlflow_store": store}
    with dg.instance_for_test() as instance:
        first = dg.materialize(
            [lead_conversion_model, champion_gate, lead_scores, champion_drift_checks],
            instance=instance,
            resources=resources,
            run_config={"ops": {"lead_conversion_model": {"config": FAST}}},
        )
        assert first.success
        checks = _checks(first)
        for name in ("feature_drift", "score_drift"):
            assert checks[name].passed, (name, checks[name].description)
            assert checks[name].metadata["n_recent_leads"].value > 500
        assert drift_errors(instance, 0) == []

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                """update marts.lead_features
                   set asking_price = asking_price * 1.3,
                       asking_to_value_ratio = asking_to_value_ratio * 1.3
                   where received_at > (select max(received_at) from marts.lead_features)
                                       - interval '30 days'"""
            )
        shifted = dg.materialize(
            [lead_scores, champion_drift_checks], instance=instance, resources=resources
        )
        assert shifted.success  # the checks do not block: the CRM still gets its scores
        feature = _checks(shifted)["feature_drift"]
        assert not feature.passed and feature.severity == dg.AssetCheckSeverity.ERROR
        assert feature.metadata["worst_feature"].text in {"asking_to_value_ratio", "asking_price"}
        assert feature.metadata["psi"].value >= 0.25

        # The error asks for one retraining run, once.
        context = dg.build_sensor_context(instance=instance)
        request = drift_retraining(context)
        assert isinstance(request, dg.RunRequest)
        assert request.run_key and "feature_drift" in request.tags["hk/trigger"]
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert isinstance(drift_retraining(again), dg.SkipReason)

    # Each measurement is an MLflow run with a metric per feature and the chart.
    client = configure(store.uri())
    experiment = client.get_experiment_by_name(DRIFT_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])
    assert len(runs) == 2
    assert runs[-1].data.metrics["psi_asking_to_value_ratio"] >= 0.25
    assert runs[0].data.metrics["psi_asking_to_value_ratio"] < 0.1
    assert "plots/psi.png" in {a.path for a in client.list_artifacts(runs[-1].info.run_id, "plots")}
