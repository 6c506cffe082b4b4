"""Once any model is trained there is a champion: the baseline wins where XGBoost cannot beat
it, and is then served online and in batch alike (real Postgres, MLflow store, Dagster, API)."""

from __future__ import annotations

import dagster as dg
import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pytest
from ml_fixtures import scored_marts_database

from hk_core.apikeys import create_api_key
from hk_core.features import LABEL
from hk_core.settings import Settings
from hk_pipelines.defs.common.resources import PostgresResource
from hk_pipelines.defs.ml.assets import champion_gate, lead_conversion_model, lead_scores
from ml.evaluation import evaluate
from ml.gate import evaluate_gate
from ml.linear import LinearModel
from ml.model_files import load_model_dir, save_model_files
from ml.registry import CHAMPION, KIND_TAG, MODEL_NAME, configure
from ml.synthetic import synthetic_feature_table
from ml.training import labels, train_baseline, train_xgboost
from ml.workflow import split
from serving.app import create_app
from serving.background import BackgroundServer

N_LEADS = 3_000
FAST = {"nthread": 1, "max_depth": 3, "learning_rate": 0.1}


def _zscore(table: pa.Table, name: str) -> np.ndarray:
    values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
    values = np.where(np.isnan(values), np.nanmean(values), values)
    return (values - values.mean()) / values.std()


def linear_book(n: int, seed: int) -> pa.Table:
    """The synthetic features with a label that is a smooth linear function of continuous
    features: what a logistic regression fits exactly and shallow trees only approximate."""
    book = synthetic_feature_table(n, seed)
    logit = (
        -2.6
        + 1.4 * _zscore(book, "equity_ratio")
        - 1.1 * _zscore(book, "asking_to_value_ratio")
        + 0.9 * _zscore(book, "square_feet")
        - 0.8 * _zscore(book, "property_age_years")
    )
    rng = np.random.default_rng(seed + 1)
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    return book.set_column(book.schema.get_field_index(LABEL), LABEL, pa.array(converted))


def test_linear_model_is_the_fitted_pipeline_and_survives_its_file(tmp_path):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    book = synthetic_feature_table(2_000, 5)
    baseline = train_baseline(book)
    matrix = baseline.encoder.transform_arrow(book)
    pipeline = Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("logistic", LogisticRegression(C=0.1, max_iter=2000)),
    ]).fit(matrix, labels(book))  # fmt: skip
    assert np.allclose(baseline.predict_proba(book), pipeline.predict_proba(matrix)[:, 1],
                       rtol=0, atol=1e-9)  # fmt: skip
    # Contributions add up to the log-odds, each indicator credited to its feature.
    linear = baseline.linear
    logit = np.log(baseline.predict_proba(book) / (1 - baseline.predict_proba(book)))
    by_feature = baseline.contributions(matrix)
    assert by_feature.shape == (book.num_rows, len(baseline.feature_names))
    assert np.allclose(linear.intercept + by_feature.sum(axis=1), logit, atol=1e-8)
    # One lead alone gets exactly what it gets in a batch of two thousand.
    one = linear.predict_with_contributions(matrix[7:8])
    assert one[0][0] == linear.predict_proba(matrix)[7]
    # The file round trip keeps every bit; a damaged file is refused.
    save_model_files(baseline, tmp_path)
    again = load_model_dir(tmp_path)
    assert again.kind == "logistic"
    assert np.array_equal(again.predict_proba(book), baseline.predict_proba(book))
    with pytest.raises(ValueError, match="not a logistic model file"):
        LinearModel.from_dict({"kind": "xgboost"})


def test_the_better_candidate_needs_the_margin_over_a_champion():
    book = linear_book(N_LEADS, 3)
    splits = split(book)
    baseline = train_baseline(splits.train)
    stumps = train_xgboost(splits.train, splits.valid, {**FAST, "max_depth": 1},
                           num_boost_round=5)  # fmt: skip
    y = labels(splits.holdout)
    baseline_metrics = evaluate(y, baseline.predict_proba(splits.holdout))
    # No champion: the better candidate, here the baseline, is champion.
    first = evaluate_gate(stumps, None, baseline_metrics, splits.holdout)
    assert first.promote and first.candidate == "baseline" and first.promotes_baseline
    assert first.reason.startswith("first model: the baseline")
    # The champion is the stumps: the baseline is far better, it is promoted.
    better = evaluate_gate(stumps, stumps, baseline_metrics, splits.holdout)
    assert better.promote and better.candidate == "baseline"
    # The champion is as good as the baseline: within the margin, the champion stays.
    kept = evaluate_gate(stumps, baseline, baseline_metrics, splits.holdout)
    assert not kept.promote and kept.reason.startswith("champion kept")
    # A run with no baseline model to serve: the challenger is the one model there is, so it
    # is the first champion, but never replaces a champion from below the yardstick.
    alone = evaluate_gate(stumps, None, baseline_metrics, splits.holdout, baseline_can_serve=False)
    assert alone.promote and alone.candidate == "challenger" and not alone.promotes_baseline
    below = evaluate_gate(stumps, stumps, baseline_metrics, splits.holdout, margin=0.0,
                          baseline_can_serve=False)  # fmt: skip
    assert not below.promote and "which this run cannot serve" in below.reason


@pytest.fixture(scope="module")
def linear_db(server_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("champion-home")
    with scored_marts_database(
        server_url, "hk_champion", home, n_leads=N_LEADS, seed=0, book=linear_book(N_LEADS, 3)
    ) as (url, store):
        yield url, store, home


def test_the_baseline_becomes_champion_and_serves_online_as_in_batch(linear_db):
    url, store, home = linear_db
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [lead_conversion_model, champion_gate, lead_scores],
            instance=instance,
            resources={"postgres": PostgresResource(url=url), "mlflow_store": store},
            run_config={"ops": {"lead_conversion_model": {"config": FAST}}},
        )
    assert result.success
    gate = result.get_asset_check_evaluations()[0]
    assert gate.passed, gate.description
    assert "(logistic baseline) promoted: first model: the baseline" in gate.description
    client = configure(store.uri())
    champion = str(client.get_registered_model(MODEL_NAME).aliases[CHAMPION])
    assert champion == "2"  # v1 is the XGBoost challenger, v2 the baseline it could not beat
    assert client.get_model_version(MODEL_NAME, champion).tags[KIND_TAG] == "logistic"
    challenger = client.get_model_version(MODEL_NAME, "1")
    assert challenger.tags["gate.candidate"] == "baseline"
    # The run keeps each model's own holdout metrics apart (the demo's table reads them).
    metrics = client.get_run(str(challenger.run_id)).data.metrics
    assert metrics["pr_auc"] == pytest.approx(float(challenger.tags["gate.challenger_score"]))
    assert metrics["baseline_pr_auc"] == pytest.approx(
        float(challenger.tags["gate.baseline_score"])
    )
    assert metrics["pr_auc"] < metrics["baseline_pr_auc"]

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select lead_id, score, model_version, reason_codes from ml.lead_scores"
        ).fetchall()
        open_leads = conn.execute(
            "select count(*) from intermediate.int_lead_outcomes where is_open"
        ).fetchone()[0]
        key = create_api_key(conn, "champion-tests")[1]
    batch = {r[0]: r for r in rows}
    assert len(batch) == open_leads and {r[2] for r in rows} == {champion}

    settings = Settings(database_url=url, home=home, rate_limit_per_minute=10**9,
                        log_level="WARNING")  # fmt: skip
    with (
        BackgroundServer(create_app(settings, migrate=False)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as api,
    ):
        ids = sorted(batch)
        online = {}
        for start in range(0, len(ids), 500):
            response = api.post("/v1/scores:batch", json={"lead_ids": ids[start : start + 500]})
            assert response.status_code == 200, response.text
            online.update({s["lead_id"]: s for s in response.json()["scores"]})
        one = api.get(f"/v1/leads/{ids[0]}/score")
        assert one.status_code == 200 and one.json()["model_version"] == champion
    assert online.keys() == batch.keys()
    worst = max(abs(online[i]["score"] - batch[i][1]) for i in ids)
    assert worst <= 1e-6, worst
    assert {s["model_version"] for s in online.values()} == {champion}
    same = sum([r["text"] for r in online[i]["reasons"]] == [r["text"] for r in batch[i][3]]
               for i in ids)  # fmt: skip
    assert same >= 0.99 * len(ids)
    best = max(ids, key=lambda i: batch[i][1])
    assert online[best]["reasons"], "the best lead has reasons in words"
    # The API keeps a local copy of the champion it can start from while MLflow is down.
    assert any(home.rglob("linear.json"))
