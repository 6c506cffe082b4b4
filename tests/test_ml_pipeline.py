"""The model as Dagster assets on real servers: train → blocking gate → rescoring, with a
real MLflow database store, in a database of its own (the marts here are written from the
synthetic feature table, not by dbt, so the model has a known signal to find)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import psycopg
import pytest
from ml_fixtures import scored_marts_database

from hk_core.features import KEY_COLUMNS
from hk_pipelines.defs.common.resources import PostgresResource
from hk_pipelines.defs.ml.assets import champion_gate, lead_conversion_model, lead_scores
from ml.registry import CHALLENGER, CHAMPION, MODEL_NAME, configure

N_LEADS = 6_000
FAST = {"nthread": 1, "max_depth": 3, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def ml_db(server_url, tmp_path_factory):
    """A database with marts.lead_training_set / marts.lead_features and the open-lead table
    (every tenth lead closed: the rescoring skips it)."""
    home = tmp_path_factory.mktemp("ml-home")
    with scored_marts_database(server_url, "hk_mltest", home, n_leads=N_LEADS, seed=11) as db:
        yield db


def _run(assets, url, store, instance, run_config=None, raise_on_error=True):
    return dg.materialize(
        assets,
        instance=instance,
        resources={"postgres": PostgresResource(url=url), "mlflow_store": store},
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def _training_config(**params):
    return {"ops": {"lead_conversion_model": {"config": {**FAST, **params}}}}


def _aliases(client) -> dict[str, str]:
    # MLflow's database store hands versions back as int although they are typed str
    return {k: str(v) for k, v in client.get_registered_model(MODEL_NAME).aliases.items()}


def test_train_gate_score_and_refuse_a_worse_challenger(ml_db):
    url, store = ml_db
    client = configure(store.uri())
    with dg.instance_for_test() as instance:
        first = _run(
            [lead_conversion_model, champion_gate, lead_scores],
            url, store, instance, _training_config(),
        )  # fmt: skip
        assert first.success
        gate = first.get_asset_check_evaluations()[0]
        assert gate.passed and "promoted: first model: the challenger" in gate.description
        aliases = _aliases(client)
        assert aliases[CHAMPION] == aliases[CHALLENGER] == "1"
        version = client.get_model_version(MODEL_NAME, "1")
        assert version.tags["gate.promoted"] == "true"
        assert float(version.tags["gate.challenger_score"]) > float(
            version.tags["gate.baseline_score"]
        )

        with psycopg.connect(url) as conn:
            scored, open_leads, versions = conn.execute(
                """select (select count(*) from ml.lead_scores),
                          (select count(*) from intermediate.int_lead_outcomes where is_open),
                          (select array_agg(distinct model_version) from ml.lead_scores)"""
            ).fetchone()
            assert scored == open_leads and versions == ["1"]
            history = conn.execute("select count(*) from ml.lead_score_history").fetchone()[0]
            sample = conn.execute(
                f"""select s.score, {", ".join(f"f.{c}" for c in ("lead_id",))}
                    from ml.lead_scores as s join marts.lead_features as f using (lead_id)
                    order by lead_id limit 50"""
            ).fetchall()

        # the batch score of a lead is what the registered model predicts for its features
        import mlflow.pyfunc
        import pandas as pd

        with psycopg.connect(url) as conn:
            ids = [lead_id for _, lead_id in sample]
            frame = pd.read_sql(  # a notebook-style read, on purpose: the pyfunc takes a frame
                "select * from marts.lead_features where lead_id = any(%(ids)s) order by lead_id",
                conn,
                params={"ids": ids},
            )
        mlflow.set_tracking_uri(store.uri())
        pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
        predicted = np.asarray(pyfunc.predict(frame.drop(columns=list(KEY_COLUMNS)))).ravel()
        assert np.allclose(predicted, [score for score, _ in sample], atol=1e-6)

        # re-running the rescoring changes nothing
        again = _run([lead_scores], url, store, instance)
        assert again.success
        with psycopg.connect(url) as conn:
            assert (
                conn.execute("select count(*) from ml.lead_score_history").fetchone()[0] == history
            )

        # a crippled challenger (stumps, barely trained) is registered but refused; neither it
        # nor its baseline beats the champion, which stays and goes on scoring: a warning,
        # not a blocking error
        worse = _run(
            [lead_conversion_model, champion_gate, lead_scores],
            url, store, instance,
            _training_config(max_depth=1, learning_rate=0.001),
            raise_on_error=False,
        )  # fmt: skip
        assert worse.success
        refused = worse.get_asset_check_evaluations()[0]
        assert not refused.passed and refused.severity == dg.AssetCheckSeverity.WARN
        assert refused.description.startswith("champion v1 (XGBoost) kept: champion kept")
        materialized = {e.asset_key.path[-1] for e in worse.get_asset_materialization_events()}
        assert materialized == {"lead_conversion_model", "lead_scores"}
        aliases = _aliases(client)
        assert aliases[CHALLENGER] == "2" and aliases[CHAMPION] == "1"
        assert client.get_model_version(MODEL_NAME, "2").tags["gate.promoted"] == "false"
        with psycopg.connect(url) as conn:
            versions = conn.execute(
                "select array_agg(distinct model_version) from ml.lead_scores"
            ).fetchone()[0]
        assert versions == ["1"]


def test_schedules_and_jobs_are_in_the_code_location():
    from hk_pipelines.definitions import defs

    schedules = {s.name: s for s in defs.schedules or []}
    assert schedules["weekly_training"].cron_schedule == "0 3 * * 1"
    assert schedules["nightly_rescoring"].cron_schedule == "0 2 * * *"
    job = defs.resolve_job_def("rescore_leads")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"lead_scores", "scored_leads"} <= keys
