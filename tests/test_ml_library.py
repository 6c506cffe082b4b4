"""The ML library on real servers: Postgres for features and scores, MLflow's database store.

One synthetic book (known signal) is trained once per module: XGBoost early-stopped on the
older validation slice, judged with the baseline on the most recent holdout. MLflow gets its
own database (``<session db>_mlflow``, made by ``tracking_uri``) and is dropped afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import xgboost as xgb
from mlflow.tracking import MlflowClient

import ml.scoring
from hk_core.features import FEATURE_NAMES, FEATURES
from hk_core.settings import Settings
from ml.data import lead_feature_schema, read_arrow, read_arrow_csv, time_split, write_arrow
from ml.encoding import MISSING, OTHER, FeatureEncoder
from ml.evaluation import evaluate, mean_abs_contribution, save_plots, top_fraction_lift
from ml.gate import evaluate_gate, record_decision
from ml.reasons import reason_codes_json
from ml.registry import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    LoadedModel,
    artifact_root,
    load_champion,
    load_trained_model,
    log_training_run,
    tracking_uri,
)
from ml.scoring import ScoreWriter, moved_leads, rescore, write_scores
from ml.synthetic import synthetic_feature_table
from ml.training import TrainedModel, labels, train_baseline, train_xgboost

SCHEMA = "ml_lib_test"
N_LEADS = 20_000
SEED = 7
# One thread: on a small matrix XGBoost's thread start-up costs more than it saves.
XGB_PARAMS = {"nthread": 1}
# Stumps add up one feature at a time: they get the thresholds the baseline misses but not
# the delinquent-and-absentee interaction, so they land between the baseline and full trees.
STUMP_PARAMS = {"nthread": 1, "max_depth": 1, "learning_rate": 0.2}
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Book:
    train: pa.Table
    valid: pa.Table
    holdout: pa.Table
    model: TrainedModel
    baseline: TrainedModel
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]


@pytest.fixture(scope="module")
def book() -> Book:
    leads = synthetic_feature_table(N_LEADS, SEED)
    older, holdout = time_split(leads, 0.2)
    train, valid = time_split(older, 0.2)
    model = train_xgboost(train, valid, XGB_PARAMS)
    baseline = train_baseline(train)
    y = labels(holdout)
    return Book(
        train,
        valid,
        holdout,
        model,
        baseline,
        evaluate(y, model.predict_proba(holdout)),
        evaluate(y, baseline.predict_proba(holdout)),
    )


@pytest.fixture(scope="module")
def features_db(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create schema if not exists {SCHEMA}")
    yield database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")


@pytest.fixture(scope="module")
def mlflow_store(
    server_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(tracking URI, artifact root): a fresh MLflow database and a lake folder."""
    settings = Settings(
        database_url=database_url,
        home=tmp_path_factory.mktemp("ml-home"),
        lake_url=None,
        mlflow_tracking_uri=None,
    )
    uri = tracking_uri(settings)
    yield uri, artifact_root(settings)
    mlflow_db = urlsplit(database_url).path.lstrip("/") + "_mlflow"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{mlflow_db}" with (force)')


@pytest.fixture(scope="module")
def plots(book: Book, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    importance = mean_abs_contribution(
        book.model.contributions(book.model.encoder.transform_arrow(book.holdout)),
        book.model.feature_names,
    )
    return save_plots(
        tmp_path_factory.mktemp("plots"),
        labels(book.holdout),
        book.model.predict_proba(book.holdout),
        importance,
    )


@pytest.fixture
def empty_scores(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("truncate ml.lead_scores, ml.lead_score_history")
    return database_url


# ------------------------------------------------------------------------------ encoding


def test_encoder_paths_agree_and_survive_json(book: Book) -> None:
    encoder = FeatureEncoder.fit(book.train)
    leads = book.holdout.slice(0, 300)
    # An unseen source, a missing motivation and a missing boolean in the first lead.
    first = leads.slice(0, 1).to_pylist()[0]
    first |= {"source": "carrier_pigeon", "motivation": None, "is_tax_delinquent": None}
    leads = pa.concat_tables([pa.Table.from_pylist([first], schema=leads.schema), leads.slice(1)])

    by_column = encoder.transform_arrow(leads)
    by_row = encoder.transform_rows(leads.to_pylist())
    np.testing.assert_array_equal(by_column, by_row)  # NaN == NaN here

    # Batch scoring encodes batch after batch into one buffer: a smaller batch after a
    # larger one must not see the larger one's one-hot cells.
    buffer = np.zeros((300, encoder.n_columns), order="F")
    encoder.transform_arrow(leads.slice(100), out=buffer)
    np.testing.assert_array_equal(encoder.transform_arrow(leads, out=buffer), by_column)
    np.testing.assert_array_equal(
        encoder.transform_arrow(leads.slice(0, 40), out=buffer), by_column[:40]
    )

    reloaded = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert reloaded == encoder
    assert reloaded.column_names == encoder.column_names
    np.testing.assert_array_equal(reloaded.transform_arrow(leads), by_column)

    names = encoder.column_names
    assert by_column[0, names.index(f"source={OTHER}")] == 1.0
    assert by_column[0, names.index(f"motivation={MISSING}")] == 1.0
    assert np.isnan(by_column[0, names.index("is_tax_delinquent")])
    assert "carrier_pigeon" not in " ".join(names)
    # One hot per categorical, per lead; every encoded column belongs to a real feature.
    source_columns = [i for i, n in enumerate(names) if encoder.feature_of_column[n] == "source"]
    assert (by_column[:, source_columns].sum(axis=1) == 1).all()
    assert set(encoder.feature_of_column.values()) == set(FEATURE_NAMES)


def test_rare_categories_fold_into_other() -> None:
    leads = pa.table({f.name: pa.nulls(30, pa.string()) for f in FEATURES})
    sources = ["web_form"] * 25 + ["ppc"] * 4 + [None]
    leads = leads.set_column(leads.schema.get_field_index("source"), "source", pa.array(sources))
    encoder = FeatureEncoder.fit(leads, min_count=5)
    assert encoder.levels("source") == ("web_form", OTHER, MISSING)
    assert encoder.transform_rows([{"source": "ppc"}])[0, 1] == 1.0


# ---------------------------------------------------------------------------------- data


def test_copy_round_trip_and_time_split(features_db: str, book: Book) -> None:
    leads = book.holdout
    with psycopg.connect(features_db) as conn:
        write_arrow(conn, leads, f"{SCHEMA}.lead_training_set", create=True)
    schema = lead_feature_schema(label=True)
    back = read_arrow(features_db, f"{SCHEMA}.lead_training_set", schema)
    assert back.sort_by("lead_id").equals(leads.sort_by("lead_id"))

    query = f"select * from {SCHEMA}.lead_training_set where source = 'referral'"
    referrals = read_arrow(features_db, query)  # the lead_features layout: no label
    assert referrals.schema == lead_feature_schema()
    assert referrals.num_rows == pc.sum(pc.equal(leads["source"], "referral")).as_py()

    # The ADBC (binary COPY) read equals the CSV read it replaced, and casts what the mart
    # declares (here a numeric and a varchar column) to the schema's types.
    assert read_arrow_csv(features_db, f"{SCHEMA}.lead_training_set", schema).equals(back)
    with psycopg.connect(features_db) as conn:
        conn.execute(
            f"alter table {SCHEMA}.lead_training_set alter column equity_ratio type numeric,"
            " alter column source type varchar(40)"
        )
    recast = read_arrow(features_db, f"{SCHEMA}.lead_training_set", schema)
    assert recast.schema == schema
    np.testing.assert_allclose(
        recast["equity_ratio"].to_numpy(zero_copy_only=False),
        back["equity_ratio"].to_numpy(zero_copy_only=False),
        rtol=1e-12,
    )
    assert recast["source"].equals(back["source"])
    empty = read_arrow(features_db, f"select * from {SCHEMA}.lead_training_set where false", schema)
    assert empty.num_rows == 0 and empty.schema == schema

    older, recent = time_split(book.train, 0.25)
    assert older.num_rows + recent.num_rows == book.train.num_rows
    assert abs(recent.num_rows - book.train.num_rows * 0.25) <= 1
    assert pc.max(older["received_at"]).as_py() < pc.min(recent["received_at"]).as_py()


# ------------------------------------------------------------------------------ training


def test_xgboost_beats_baseline_and_baseline_beats_chance(book: Book) -> None:
    assert book.baseline_metrics["roc_auc"] > 0.65
    assert book.metrics["roc_auc"] > book.baseline_metrics["roc_auc"]
    assert book.metrics["pr_auc"] > book.baseline_metrics["pr_auc"]
    # No reweighting: the mean score stays near the observed rate (calibrated, not inflated).
    assert abs(book.metrics["mean_score"] - book.metrics["positive_rate"]) < 0.02
    assert book.metrics["top_decile_lift"] > 2.0


def test_contributions_add_up_to_the_log_odds(book: Book) -> None:
    leads = book.holdout.slice(0, 500)
    for trained in (book.model, book.baseline):
        matrix = trained.encoder.transform_arrow(leads)
        per_feature = trained.contributions(matrix)
        assert per_feature.shape == (500, len(FEATURES))
        log_odds = np.log(trained.predict_proba_matrix(matrix)) - np.log1p(
            -trained.predict_proba_matrix(matrix)
        )
        # Rows differ only by the features' contributions: the bias is a shared constant.
        offset = log_odds - per_feature.sum(axis=1)
        assert np.ptp(offset) < 1e-4, trained.kind
    importance = mean_abs_contribution(book.model.contributions(matrix), book.model.feature_names)
    assert "equity_ratio" in list(importance)[:3]


# ---------------------------------------------------------------------------- evaluation


def test_metrics_on_known_answers() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0] * 10, dtype=float)
    perfect = y * 0.9 + 0.05
    assert evaluate(y, perfect)["roc_auc"] == 1.0
    lift, capture = top_fraction_lift(y, perfect)  # top 10 leads: all converted
    assert (lift, capture) == pytest.approx((5.0, 0.5))
    calibrated = evaluate(y, np.full(len(y), y.mean()))
    assert calibrated["ece"] == pytest.approx(0.0, abs=1e-12)
    assert calibrated["roc_auc"] == 0.5


def test_plots_are_pngs(plots: dict[str, Path]) -> None:
    assert set(plots) == {"calibration", "feature_importance", "gains_lift"}
    for path in plots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- registry and gate


def test_explicit_tracking_uri_wins() -> None:
    uri = "postgresql+psycopg2://mlflow@db.internal/mlflow"
    assert tracking_uri(Settings(mlflow_tracking_uri=uri)) == uri


def test_log_register_and_load(
    book: Book, mlflow_store: tuple[str, str], plots: dict[str, Path]
) -> None:
    uri, artifacts = mlflow_store
    logged = log_training_run(
        book.model,
        uri=uri,
        artifacts=artifacts,
        metrics=book.metrics,
        baseline_metrics=book.baseline_metrics,
        plots=plots,
        example=book.train,
        run_name="test-log",
    )
    assert logged.model_uri.startswith("models:/m-")
    client = MlflowClient(uri, uri)
    assert _alias(client, CHALLENGER) == logged.version
    run = client.get_run(logged.run_id)
    assert run.data.metrics["pr_auc"] == pytest.approx(book.metrics["pr_auc"])
    assert "baseline_pr_auc" in run.data.metrics
    logged_files = {a.path for a in client.list_artifacts(logged.run_id, "plots")}
    assert logged_files == {f"plots/{p.name}" for p in plots.values()}
    assert str(client.get_experiment(run.info.experiment_id).artifact_location).startswith(
        artifacts
    )

    leads = book.holdout.slice(0, 200)
    expected = book.model.predict_proba(leads)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHALLENGER}")
    predicted = np.asarray(pyfunc.predict(leads.select(list(FEATURE_NAMES)).to_pandas()))
    assert predicted.shape == (200,) and predicted.dtype.kind == "f"
    assert ((predicted > 0) & (predicted < 1)).all()  # probabilities, not 0/1 labels
    np.testing.assert_allclose(predicted, expected, atol=TOLERANCE)

    loaded = load_trained_model(f"models:/{MODEL_NAME}@{CHALLENGER}", uri)
    assert (loaded.name, loaded.version) == (MODEL_NAME, logged.version)
    assert isinstance(loaded.model.estimator, xgb.Booster)
    np.testing.assert_allclose(loaded.model.predict_proba(leads), expected, atol=TOLERANCE)


def test_gate_promotes_first_and_better_refuses_worse(
    book: Book, mlflow_store: tuple[str, str]
) -> None:
    uri, artifacts = mlflow_store
    client = MlflowClient(uri, uri)

    def log(trained: TrainedModel, name: str) -> str:
        y = labels(book.holdout)
        metrics = evaluate(y, trained.predict_proba(book.holdout))
        return log_training_run(
            trained, uri=uri, artifacts=artifacts, metrics=metrics, example=book.train,
            baseline_metrics=book.baseline_metrics, run_name=name,
        ).version  # fmt: skip

    def gate(trained: TrainedModel, version: str) -> bool:
        champion = load_champion(uri)
        decision = evaluate_gate(
            trained,
            None if champion is None else champion.model,
            book.baseline_metrics,
            book.holdout,
            margin=0.005,
        )
        promoted = None
        if decision.promotes_baseline:
            promoted = log(book.baseline, "baseline")
        record_decision(uri, decision, version, promoted_version=promoted)
        if decision.promote:
            assert _alias(client, CHAMPION) == (promoted or version)
        tags = client.get_model_version(MODEL_NAME, version).tags
        assert tags["gate.promoted"] == str(decision.promote).lower()
        assert float(tags["gate.challenger_score"]) == pytest.approx(decision.challenger_score)
        assert tags["gate.reason"] == decision.reason
        return decision.promote

    # Earlier tests may have registered versions, but none was ever champion.
    assert load_champion(uri) is None
    stumps = train_xgboost(book.train, book.valid, STUMP_PARAMS)
    stumps_version = log(stumps, "stumps")
    assert gate(stumps, stumps_version)  # the first gate always makes a champion
    first_champion = _alias(client, CHAMPION)
    assert client.get_model_version(MODEL_NAME, stumps_version).tags["gate.champion_score"] == (
        "none"
    )

    full_version = log(book.model, "full")
    assert gate(book.model, full_version)
    assert _alias(client, CHAMPION) == full_version
    tags = client.get_model_version(MODEL_NAME, full_version).tags
    assert tags["gate.previous_champion"] == first_champion

    # The same model again is not better by the margin; noise labels do not beat anything.
    same_version = log(book.model, "same")
    assert not gate(book.model, same_version)
    rng = np.random.default_rng(0)
    shuffled = book.train.set_column(
        book.train.schema.get_field_index("is_converted"),
        "is_converted",
        pa.array(rng.permutation(book.train["is_converted"].to_numpy())),
    )
    crippled = train_xgboost(shuffled, book.valid, XGB_PARAMS)
    crippled_version = log(crippled, "shuffled labels")
    assert not gate(crippled, crippled_version)
    assert "baseline" in client.get_model_version(MODEL_NAME, crippled_version).tags["gate.reason"]
    assert _alias(client, CHAMPION) == full_version
    assert _alias(client, CHALLENGER) == crippled_version


# ------------------------------------------------------------------------------- scoring


def test_reason_codes_are_positive_sorted_and_valid_json() -> None:
    features = FEATURES[:4]  # source, property_type, condition, occupancy: all categorical
    leads = pa.table({f.name: ['say "hi"\\', None, "x"] for f in features})
    contributions = np.array(
        [[0.5, -0.1, 0.9, 0.2], [-1.0, -0.2, -0.3, -0.4], [0.0, 0.3, -0.2, 0.0]]
    )
    reasons = [
        json.loads(text) for text in reason_codes_json(leads, contributions, features).to_pylist()
    ]
    assert [r["feature"] for r in reasons[0]] == ["condition", "source", "occupancy"]
    assert reasons[0][0] == {
        "feature": "condition",
        "contribution": 0.9,
        "text": 'Seller-stated condition: say "hi"\\',
    }
    assert reasons[1] == []
    assert reasons[2] == [
        {"feature": "property_type", "contribution": 0.3, "text": "Canonical property type: x"}
    ]


def test_rescore_writes_every_lead_once_and_is_idempotent(
    book: Book, mlflow_store: tuple[str, str], features_db: str, empty_scores: str
) -> None:
    uri, artifacts = mlflow_store
    leads = book.holdout.slice(0, 1500)
    with psycopg.connect(features_db) as conn:
        write_arrow(
            conn, leads.drop_columns(["is_converted"]), f"{SCHEMA}.lead_features", create=True
        )
    champion = load_champion(uri) or _register(book, uri, artifacts)
    features_sql = f"select * from {SCHEMA}.lead_features"

    first = rescore(empty_scores, champion, features_sql=features_sql)
    assert first.rows == first.history_rows_added == leads.num_rows
    scores_1, history_1 = _scores(empty_scores), _history_count(empty_scores)
    assert len(scores_1) == leads.num_rows == len({row[0] for row in scores_1})

    # A batch score equals the registered pyfunc's prediction for the same lead's features.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{champion.version}")
    sample = leads.slice(0, 50)
    expected = np.asarray(pyfunc.predict(sample.select(list(FEATURE_NAMES)).to_pandas()))
    by_id = {row[0]: row for row in scores_1}
    batch = np.array([by_id[i][1] for i in sample["lead_id"].to_pylist()])
    np.testing.assert_allclose(batch, expected, atol=TOLERANCE)
    for lead_id in sample["lead_id"].to_pylist():
        _, _, version, reasons, _ = by_id[lead_id]
        assert version == champion.version and len(reasons) <= 3
        amounts = [r["contribution"] for r in reasons]
        assert all(a > 0 for a in amounts) and amounts == sorted(amounts, reverse=True)
        assert all(r["feature"] in FEATURE_NAMES and r["text"] for r in reasons)
    assert any(by_id[i][3] for i in sample["lead_id"].to_pylist())

    again = rescore(empty_scores, champion, features_sql=features_sql)
    assert again.history_rows_added == again.rows_written == 0
    assert _scores(empty_scores) == scores_1 and _history_count(empty_scores) == history_1

    # A lead back from closed with the same score keeps its first scored_at and adds no
    # history; only the rows that move get reasons built.
    reopened = leads["lead_id"][1].as_py()
    rescore(empty_scores, champion, features_sql=f"{features_sql} where lead_id <> {reopened}")
    back = rescore(empty_scores, champion, features_sql=features_sql)
    assert back.rows_written == 1 and back.history_rows_added == 0
    assert _scores(empty_scores) == scores_1 and _history_count(empty_scores) == history_1
    explained: list[int] = []
    ids = np.array([reopened, leads["lead_id"][2].as_py()])

    def reasons_for(positions: np.ndarray) -> pa.Array:
        explained.extend(ids[positions].tolist())
        return pa.array(["[]"] * len(positions))

    written = write_scores(
        empty_scores,
        ids,
        np.array([by_id[reopened][1], 0.5]),
        reasons_for,
        model_name=MODEL_NAME,
        model_version=str(champion.version),
        scored_at=datetime.now(UTC),
    )
    assert explained == [ids[1]] and written.rows_written == written.history_rows_added == 1
    with pytest.raises(ValueError, match=f"lead {reopened} appears more than once"):
        write_scores(
            empty_scores,
            np.array([reopened, reopened]),
            np.array([0.1, 0.2]),
            reasons_for,
            model_name=MODEL_NAME,
            model_version=str(champion.version),
            scored_at=by_id[reopened][4],
        )
    # Every other lead closed in that write and is back now, as it was; the changed lead's
    # model score is a new score again.
    rescore(empty_scores, champion, features_sql=features_sql)
    moved = ids[1]
    assert [r for r in _scores(empty_scores) if r[0] != moved] == [
        r for r in scores_1 if r[0] != moved
    ]
    assert _history_count(empty_scores) == history_1 + 2

    # Another model version is a new score for every lead, even where the number is equal.
    other = LoadedModel(champion.model, MODEL_NAME, f"{champion.version}-retrained", "test")
    swapped = rescore(empty_scores, other, features_sql=features_sql)
    assert swapped.history_rows_added == leads.num_rows
    assert {row[2] for row in _scores(empty_scores)} == {other.version}
    history_2 = _history_count(empty_scores)

    # A lead that closed leaves ml.lead_scores (replaced in full) but keeps its history.
    closed = leads["lead_id"][0].as_py()
    rescore(empty_scores, other, features_sql=f"{features_sql} where lead_id <> {closed}")
    assert closed not in {row[0] for row in _scores(empty_scores)}
    assert _history_count(empty_scores) == history_2


def _current(rows: list[tuple[int, float, bool]]) -> pa.Table:
    ids, scores, same = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "lead_id": pa.array(ids, pa.int64()),
            "score": pa.array(scores, pa.float64()),
            "same_model": pa.array(same, pa.bool_()),
        }
    )


def test_moved_leads_finds_new_changed_reopened_and_closed() -> None:
    current = _current([(5, 0.5, True), (1, 0.1, True), (9, 0.9, False), (7, 0.7, True)])
    tonight = np.array([1, 9, 3, 5]), np.array([0.1, 0.9, 0.3, 0.55])
    moved = moved_leads(current, *tonight)
    # 1 stays; 9 has another model; 3 is new; 5 changed; 7 closed.
    assert moved.lead_ids.tolist() == [9, 3, 5] and moved.scores.tolist() == [0.9, 0.3, 0.55]
    assert moved.is_listed.tolist() == [True, False, True] and moved.closed.tolist() == [7]
    first = moved_leads(_current([]), *tonight)
    assert first.lead_ids.tolist() == [1, 9, 3, 5] and not first.is_listed.any()
    nobody = moved_leads(current, np.array([], dtype=np.int64), np.array([]))
    assert len(nobody.lead_ids) == 0 and sorted(nobody.closed.tolist()) == [1, 5, 7, 9]


def _table(conninfo: str, name: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            f"select lead_id, score, model_version, reason_codes::text, scored_at from {name}"
            " order by lead_id, scored_at"
        ).fetchall()


def test_write_in_chunks_equals_one_chunk_and_a_failed_chunk_writes_nothing(
    empty_scores: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = np.arange(1, 1001, dtype=np.int64)
    scores = (ids % 97) / 100.0
    at = datetime(2026, 11, 30, tzinfo=UTC)

    def reasons_for(positions: np.ndarray) -> pa.Array:
        return pa.array([f'[{{"lead": {i}}}]' for i in ids[positions]])

    def write(lead_ids: np.ndarray, chunk_rows: int, version: str = "1") -> None:
        monkeypatch.setattr(ml.scoring, "WRITE_CHUNK_ROWS", chunk_rows)
        write_scores(empty_scores, lead_ids, scores[: len(lead_ids)], reasons_for,
                     model_name="m", model_version=version, scored_at=at)  # fmt: skip

    write(ids, 10**6)
    whole = _table(empty_scores, "ml.lead_scores"), _table(empty_scores, "ml.lead_score_history")
    with psycopg.connect(empty_scores, autocommit=True) as conn:
        conn.execute("truncate ml.lead_scores, ml.lead_score_history")
    write(ids, 64)  # 16 chunks, the last one short
    chunked = _table(empty_scores, "ml.lead_scores"), _table(empty_scores, "ml.lead_score_history")
    assert chunked == whole and len(whole[0]) == len(whole[1]) == 1000
    assert whole[0][0][3] == '[{"lead": 1}]'

    # A chunk whose reasons fail (after earlier chunks were written) leaves the night undone.
    calls = 0

    def failing(positions: np.ndarray) -> pa.Array:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("explainer broke")
        return reasons_for(positions)

    monkeypatch.setattr(ml.scoring, "WRITE_CHUNK_ROWS", 100)
    with pytest.raises(RuntimeError, match="explainer broke"):
        write_scores(empty_scores, ids, scores, failing, model_name="m", model_version="2",
                     scored_at=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
    assert _table(empty_scores, "ml.lead_scores") == chunked[0]
    assert _table(empty_scores, "ml.lead_score_history") == chunked[1]


def test_rescorings_take_turns(empty_scores: str) -> None:
    """A second night's writer waits for the first to commit, then compares against it."""
    ids, at = np.array([1, 2, 3]), datetime(2026, 11, 30, tzinfo=UTC)

    def reasons_for(positions: np.ndarray) -> pa.Array:
        return pa.repeat(pa.scalar("[]"), len(positions))

    with ScoreWriter(empty_scores, model_name="m", model_version="1") as first:
        assert first._current is not None
        first._current.result()  # the first holds the lock
        second = ScoreWriter(empty_scores, model_name="m", model_version="1").__enter__()
        first.write(ids, np.array([0.1, 0.2, 0.3]), reasons_for, scored_at=at)
        # The second is blocked on the lock until the first commits.
        assert second._current is not None and not second._current.done()
    later = datetime(2026, 12, 1, tzinfo=UTC)
    result = second.write(ids, np.array([0.1, 0.2, 0.35]), reasons_for, scored_at=later)
    second.__exit__(None, None, None)
    assert (result.rows_written, result.history_rows_added) == (1, 1)
    assert [r[1] for r in _table(empty_scores, "ml.lead_scores")] == [0.1, 0.2, 0.35]


def _alias(client: MlflowClient, alias: str) -> str:
    # The database store hands versions back as int, although they are typed str.
    return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)


def _register(book: Book, uri: str, artifacts: str) -> LoadedModel:
    logged = log_training_run(
        book.model, uri=uri, artifacts=artifacts, metrics=book.metrics, example=book.train
    )
    return load_trained_model(f"models:/{MODEL_NAME}/{logged.version}", uri)


def _scores(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "select lead_id, score, model_version, reason_codes, scored_at"
            " from ml.lead_scores order by lead_id"
        ).fetchall()


def _history_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("select count(*) from ml.lead_score_history").fetchone()
    return int(row[0]) if row else 0


def test_reason_values_in_words_survive_extreme_numbers():
    """Arrow's round overflows near ±1.8e308: a what-if payload or a messy mart row must
    still get its reasons in words, and ordinary values keep two decimals."""
    import pyarrow as pa

    from hk_core.features import Feature
    from ml.reasons import value_text

    feature = Feature("asking_price", "numeric", "Asking price.")
    values = pa.array([1.234, None, 1.7e308, -1.7e308, float("inf"), 250000.0, 1e16])
    assert value_text(feature, values).to_pylist() == [
        "1.23", "unknown", "1.7e+308", "-1.7e+308", "inf", "250000", "1e+16"
    ]  # fmt: skip
