"""Nightly rescoring of 1,000,000 leads against a floor measured in the same run; training time.

    uv run python benchmarks/bench_rescore.py [--rows 1000000] [--runs 3] [--model-rows 100000]
                                              [--train-sizes 100000 1000000] [--train-runs 1]
                                              [--skip-naive] [--keep-db]
                                              [--parts rescore naive reads training]

Creates a fresh database `hk_bench_ml` (its own: `hk_bench` and `hk_bench_dbt` belong to the
other benchmarks) and migrates it. marts.lead_features gets `--rows` leads from
`ml.synthetic.synthetic_feature_table` (seed 1), and intermediate.int_lead_outcomes one open
row per lead, so the default open-leads query of `ml.scoring.rescore` returns every lead.
A model of the production configuration (the Dagster asset's: depth 4, learning rate 0.05,
2 threads, early stopping) is trained on `--model-rows` other synthetic leads (seed 2), logged
and registered in MLflow's database store (`hk_bench_ml_mlflow`) exactly as
`ml.workflow.train_and_register` does, and loaded back with `ml.registry.load_trained_model`.

Then, timed with perf_counter, `--runs` times each (mean and min reported):

- floor: the same read (`ml.data.read_arrow`: binary COPY decoded by `ml.pgcopy`, the columns
  the model needs) and the same write (`ml.scoring.ScoreWriter`, opened before the read as
  rescore does) with no model: every score 0.5, and every written lead a constant 3-reason
  JSON of the usual size, so the floor moves the same bytes;
- rescore: `ml.scoring.rescore` with the registered model and the asset's default
  (approximate, Saabas reasons);
- each on three nights: *first* (ml.lead_scores and history truncated before each run: every
  lead is new), *unchanged* (run again on the same features and model: nothing moves), and
  *new model* (the same booster under a new version name: every lead gets a new row);
- naive, once, first night only: rows fetched with psycopg into pandas, `predict` of the
  registered pyfunc on the DataFrame, Saabas contributions from XGBoost, reason JSON built
  per lead in Python, `executemany` into the history and an upsert into ml.lead_scores;
- the read alone: `read_arrow` against the two paths before it, ADBC's driver
  (`read_arrow_adbc`) and COPY CSV + pyarrow.csv (`read_arrow_csv`);
- training: `train_xgboost` and `train_baseline` on 100,000 and 1,000,000 synthetic leads
  (split by arrival as `ml.workflow.split` does: train 64%, valid 16%, holdout 20% unused).

Targets (issue 5): rescoring >= 150,000 leads/s, and <= 1.7 x the floor of the same night.
Run it under `flock /tmp/hk-bench.lock` so that no other benchmark shares the cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from common import REPO, SAMPLE_REASONS, database_url, drop_database, fresh_database, machine

sys.path.insert(0, str(REPO))

from hk_core.features import Feature  # noqa: E402
from hk_core.migrate import upgrade  # noqa: E402
from hk_core.settings import Settings  # noqa: E402
from ml.data import read_arrow, read_arrow_adbc, read_arrow_csv, write_arrow  # noqa: E402
from ml.evaluation import evaluate  # noqa: E402
from ml.reasons import CONTRIBUTION_DIGITS, N_REASONS, VALUE_DIGITS  # noqa: E402
from ml.registry import (  # noqa: E402
    MODEL_NAME,
    LoadedModel,
    artifact_root,
    load_trained_model,
    log_training_run,
    tracking_uri,
)
from ml.scoring import (  # noqa: E402
    DEFAULT_OPEN_LEADS_SQL,
    ScoreWriter,
    rescore,
    scoring_schema,
)
from ml.synthetic import synthetic_feature_table  # noqa: E402
from ml.training import labels, train_baseline, train_xgboost  # noqa: E402
from ml.workflow import split  # noqa: E402

DB = "hk_bench_ml"
URL = database_url(DB)
TARGET_LEADS_PER_SECOND = 150_000
TARGET_RATIO = 1.7
# hk_pipelines.defs.ml.assets.TrainingConfig: what the weekly training job runs with.
PRODUCTION_PARAMS = {"max_depth": 4, "learning_rate": 0.05, "nthread": 2}
FLOOR_SCORE = 0.5
NIGHTS = ("first", "unchanged", "new model")
PARTS = ("rescore", "naive", "reads", "training")


def build_marts(rows: int) -> None:
    started = time.perf_counter()
    book = synthetic_feature_table(rows, 1).drop_columns(["is_converted"])
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("create schema marts")
        conn.execute("create schema intermediate")
        write_arrow(conn, book, "marts.lead_features", create=True)
        conn.execute("alter table marts.lead_features add primary key (lead_id)")
        conn.execute("create table intermediate.int_lead_outcomes as "
                     "select lead_id, true as is_open from marts.lead_features")  # fmt: skip
        conn.execute("vacuum analyze marts.lead_features")
        conn.execute("vacuum analyze intermediate.int_lead_outcomes")
    print(f"marts.lead_features: {rows:,} leads ({time.perf_counter() - started:.0f} s)")


def register_model(model_rows: int, home: Path) -> LoadedModel:
    """Train on `model_rows` leads, log and register in MLflow, load back as rescore's input."""
    training_set = synthetic_feature_table(model_rows, 2)
    splits = split(training_set)
    started = time.perf_counter()
    model = train_xgboost(splits.train, splits.valid, PRODUCTION_PARAMS)
    trained = time.perf_counter() - started
    settings = Settings(database_url=URL, home=home, lake_url=None, mlflow_tracking_uri=None)
    uri = tracking_uri(settings)
    logged = log_training_run(
        model,
        uri=uri,
        artifacts=artifact_root(settings),
        metrics=evaluate(labels(splits.holdout), model.predict_proba(splits.holdout)),
        example=splits.train,
        run_name="bench_rescore",
    )
    loaded = load_trained_model(f"models:/{MODEL_NAME}/{logged.version}", uri)
    trees = loaded.model.booster.num_boosted_rounds()
    print(f"model: {trees} trees of depth {PRODUCTION_PARAMS['max_depth']} over "
          f"{loaded.model.encoder.n_columns} encoded columns, trained on {splits.train.num_rows:,}"
          f" leads in {trained:.0f} s, registered as {MODEL_NAME} v{logged.version}")  # fmt: skip
    return loaded


def truncate_scores() -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("truncate ml.lead_scores, ml.lead_score_history")


def vacuum_scores() -> None:
    # Autovacuum would do it between two nights; done here so each run starts alike.
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("vacuum analyze ml.lead_scores")
        conn.execute("vacuum analyze ml.lead_score_history")


# -- the three ways to rescore --------------------------------------------------------------


def floor(model: LoadedModel, version: str) -> dict[str, float]:
    """The same read and write as rescore, with a constant score and constant reasons."""
    started = time.perf_counter()
    with ScoreWriter(URL, model_name="floor", model_version=version) as writer:
        leads = read_arrow(URL, DEFAULT_OPEN_LEADS_SQL, scoring_schema(model.model))
        read = time.perf_counter() - started
        lead_ids = leads.column("lead_id").to_numpy()
        written = writer.write(
            lead_ids,
            np.full(len(lead_ids), FLOOR_SCORE),
            lambda positions: pa.repeat(pa.scalar(SAMPLE_REASONS), len(positions)),
            scored_at=datetime.now(UTC),
        )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": leads.num_rows, "read_seconds": read,
            "rows_written": written.rows_written, **written.timings}  # fmt: skip


def real(model: LoadedModel, version: str) -> dict[str, float]:
    versioned = LoadedModel(model.model, model.name, version, model.uri)
    summary = rescore(URL, versioned, approximate_reasons=True)
    return {"seconds": summary.seconds, "rows": summary.rows,
            "rows_written": summary.rows_written, **summary.timings}  # fmt: skip


def _value_text(feature: Feature, value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    if feature.kind == "numeric":
        return str(round(float(value), VALUE_DIGITS))  # type: ignore[arg-type]
    if feature.kind == "boolean":
        return "yes" if value else "no"
    return str(value)


def naive(model: LoadedModel) -> dict[str, float]:
    """What one writes first: fetchall into pandas, predict on the DataFrame, executemany."""
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{model.version}")
    trained = model.model
    features = trained.encoder.features
    started = time.perf_counter()
    with psycopg.connect(URL) as conn:
        cursor = conn.execute(DEFAULT_OPEN_LEADS_SQL)
        frame = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
    read = time.perf_counter()
    inputs = frame[[f.name for f in features]]
    scores = pyfunc.predict(inputs)
    matrix = trained.encoder.transform_arrow(pa.Table.from_pandas(inputs, preserve_index=False))
    contributions = trained.contributions(matrix, approximate=True)
    predicted = time.perf_counter()
    records = inputs.to_dict("records")
    reasons = []
    for record, row in zip(records, contributions, strict=True):
        top = sorted(range(len(features)), key=lambda i: -row[i])[:N_REASONS]
        reasons.append(json.dumps([
            {"feature": features[i].name, "contribution": round(float(row[i]), CONTRIBUTION_DIGITS),
             "text": f"{features[i].description.rstrip('.')}: "
                     f"{_value_text(features[i], record[features[i].name])}"}
            for i in top if row[i] > 0
        ]))  # fmt: skip
    explained = time.perf_counter()
    scored_at = datetime.now(UTC)
    rows = [
        (int(lead_id), float(score), MODEL_NAME, str(model.version), text, scored_at)
        for lead_id, score, text in zip(frame["lead_id"], scores, reasons, strict=True)
    ]
    with psycopg.connect(URL) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "insert into ml.lead_score_history (lead_id, score, model_name, model_version,"
            " reason_codes, scored_at) values (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        cursor.executemany(
            "insert into ml.lead_scores (lead_id, score, model_name, model_version,"
            " reason_codes, scored_at) values (%s, %s, %s, %s, %s, %s)"
            " on conflict (lead_id) do update set score = excluded.score,"
            " model_name = excluded.model_name, model_version = excluded.model_version,"
            " reason_codes = excluded.reason_codes, scored_at = excluded.scored_at",
            rows,
        )
        # Closed leads out. (`where not (lead_id = any(%s))` with the million ids is
        # quadratic in Postgres 15: it ran for more than 5 minutes before it was cancelled.)
        cursor.execute("delete from ml.lead_scores as s where not exists (select 1 from ("
                       f"{DEFAULT_OPEN_LEADS_SQL}) as o where o.lead_id = s.lead_id)")  # fmt: skip
    finished = time.perf_counter()
    return {"seconds": finished - started, "rows": len(rows), "rows_written": len(rows),
            "read_seconds": read - started, "score_seconds": predicted - read,
            "reasons_seconds": explained - predicted, "write_seconds": finished - explained}  # fmt: skip


# -- timing ---------------------------------------------------------------------------------


def timed(
    label: str, runs: int, run: Callable[[int], dict[str, float]], prepare: Callable[[], None]
) -> list[dict[str, float]]:
    results = []
    for i in range(runs):
        prepare()
        result = run(i)
        results.append(result)
        steps = ", ".join(f"{k.removesuffix('_seconds')} {v:.2f}" for k, v in result.items()
                          if k.endswith("_seconds"))  # fmt: skip
        print(f"  {label} #{i + 1}: {result['seconds']:.2f} s, {result['rows']:,.0f} leads, "
              f"{result.get('rows_written', 0):,.0f} rows written ({steps})", flush=True)  # fmt: skip
    return results


def summary(results: list[dict[str, float]]) -> tuple[float, float, float]:
    seconds = [r["seconds"] for r in results]
    return statistics.mean(seconds), min(seconds), results[0]["rows"]


def rescoring(model: LoadedModel, runs: int, parts: list[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    version = str(model.version)
    versions = iter(range(1_000))
    for kind, way in (("floor", floor), ("rescore", real)) if "rescore" in parts else ():

        def same(_: int, way: Callable[[LoadedModel, str], dict[str, float]] = way) -> dict:
            return way(model, version)

        def new(_: int, way: Callable[[LoadedModel, str], dict[str, float]] = way) -> dict:
            return way(model, f"{version}-new-{next(versions)}")

        print(f"{kind}, first night (every lead new):", flush=True)
        out[f"{kind}/first"] = timed(kind, runs, same, truncate_scores)
        print(f"{kind}, unchanged night:", flush=True)
        out[f"{kind}/unchanged"] = timed(kind, runs, same, vacuum_scores)
        print(f"{kind}, new model version (every lead rewritten):", flush=True)
        out[f"{kind}/new model"] = timed(kind, runs, new, vacuum_scores)
    if "naive" in parts:
        print("naive, first night:", flush=True)
        out["naive/first"] = timed("naive", 1, lambda _: naive(model), truncate_scores)
    return out


def read_paths(model: LoadedModel, runs: int) -> dict[str, list[float]]:
    schema = scoring_schema(model.model)
    readers = {
        "binary COPY + ml.pgcopy (read_arrow)": read_arrow,
        "ADBC driver (read_arrow_adbc)": read_arrow_adbc,
        "COPY CSV + pyarrow.csv (read_arrow_csv)": read_arrow_csv,
    }
    times: dict[str, list[float]] = {label: [] for label in readers}
    for _ in range(runs):
        for label, reader in readers.items():
            started = time.perf_counter()
            reader(URL, DEFAULT_OPEN_LEADS_SQL, schema)
            times[label].append(time.perf_counter() - started)
    return times


def training(sizes: list[int], runs: int) -> dict[int, dict[str, list[float]]]:
    out: dict[int, dict[str, list[float]]] = {}
    for n in sizes:
        splits = split(synthetic_feature_table(n, 3))
        out[n] = {"xgboost": [], "logistic": [], "trees": []}
        for _ in range(runs):
            started = time.perf_counter()
            model = train_xgboost(splits.train, splits.valid, PRODUCTION_PARAMS)
            out[n]["xgboost"].append(time.perf_counter() - started)
            out[n]["trees"].append(model.booster.num_boosted_rounds())
            started = time.perf_counter()
            train_baseline(splits.train)
            out[n]["logistic"].append(time.perf_counter() - started)
            print(f"  training on {n:,} leads ({splits.train.num_rows:,} train, "
                  f"{splits.valid.num_rows:,} valid): xgboost {out[n]['xgboost'][-1]:.1f} s "
                  f"({out[n]['trees'][-1]} trees), logistic {out[n]['logistic'][-1]:.1f} s",
                  flush=True)  # fmt: skip
    return out


def report(results: dict[str, list], reads: dict[str, list[float]],
           trainings: dict[int, dict[str, list[float]]], runs: int) -> None:  # fmt: skip
    print("\n| night | floor mean (min) | rescore mean (min) | rescore leads/s | ÷ floor |")
    print("|---|---|---|---|---|")
    for night in NIGHTS if "rescore/first" in results else ():
        f_mean, f_min, _ = summary(results[f"floor/{night}"])
        r_mean, r_min, rows = summary(results[f"rescore/{night}"])
        rate = rows / r_mean
        print(f"| {night} | {f_mean:.2f} s ({f_min:.2f}) | {r_mean:.2f} s ({r_min:.2f}) | "
              f"{rate:,.0f} ({'met' if rate >= TARGET_LEADS_PER_SECOND else 'not met'}) | "
              f"{r_mean / f_mean:.2f} ({'met' if r_mean / f_mean <= TARGET_RATIO else 'not met'})"
              " |")  # fmt: skip
    if "naive/first" in results:
        n_mean, _, rows = summary(results["naive/first"])
        print(f"| first, naive (1 run) | | {n_mean:.1f} s | {rows / n_mean:,.0f} | |")
    print(f"\nsteps, mean of {runs} runs (s):")
    for key, values in results.items():
        steps = sorted({k for r in values for k in r if k.endswith("_seconds")})
        print(f"  {key}: " + ", ".join(
            f"{k.removesuffix('_seconds')} {statistics.mean(r.get(k, 0) for r in values):.2f}"
            for k in steps))  # fmt: skip
    print("\nread alone (the model's columns of every open lead), mean (min):")
    for label, times in reads.items():
        print(f"  {label}: {statistics.mean(times):.2f} s ({min(times):.2f})")
    print("\n| training set | XGBoost | logistic baseline | trees |")
    print("|---|---|---|---|")
    for n, times in trainings.items():
        print(f"| {n:,} | {statistics.mean(times['xgboost']):.1f} s | "
              f"{statistics.mean(times['logistic']):.1f} s | {times['trees'][0]:.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="open leads to rescore")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model-rows", type=int, default=100_000,
                        help="synthetic leads the scoring model is trained on")  # fmt: skip
    parser.add_argument("--train-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--train-runs", type=int, default=1)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--parts", nargs="*", default=list(PARTS), choices=PARTS,
                        help="what to time (default: all)")  # fmt: skip
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    print(machine(), flush=True)
    fresh_database(DB)
    try:
        upgrade(URL)
        build_marts(args.rows)
        with tempfile.TemporaryDirectory(prefix="hk-bench-ml-") as home:
            model = register_model(args.model_rows, Path(home))
            parts = [p for p in args.parts if not (args.skip_naive and p == "naive")]
            results = rescoring(model, args.runs, parts)
            reads = read_paths(model, args.runs) if "reads" in parts else {}
        trainings = training(args.train_sizes, args.train_runs) if "training" in parts else {}
        print("\n" + machine())
        report(results, reads, trainings, args.runs)
    finally:
        if not args.keep_db:
            drop_database(DB)


if __name__ == "__main__":
    main()
