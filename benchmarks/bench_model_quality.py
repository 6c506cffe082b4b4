"""Model quality on books the model has not seen: champion ROC AUC over the generator's own.

For each book (``hk generate`` with its answer keys, several seeds and both conversion
behaviours) this runs what a new user runs: a fresh database, the three imports and
``hk pipeline run``. Then, on the most recent 90 days' leads (whose outcomes training could
not see: their label windows are still open), it compares

    champion ROC AUC  /  ROC AUC of the generator's true conversion probabilities

against the generator's outcome for each lead (``will_convert``: reached under_contract within
90 days); the goal is >= 0.95. The true probabilities include each seller's random effect,
which no data shows, so it also reports the ratio to the "knowable" probabilities (the same
without the random effect): the real ceiling for a model. It also reports which model is champion and whether every open
lead in ``marts.scored_leads`` has a score.

uv run python benchmarks/bench_model_quality.py [--leads 20000] [--books investor:1 investor:2 ...]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from common import HK, REPO, bench_env, drop_database, fresh_database, machine
from sklearn.metrics import roc_auc_score

DB = "hk_bench_quality"
DEFAULT_BOOKS = ("investor:1", "investor:2", "investor:3", "interactions:4")
RECENT_DAYS = 90


def run(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> str:
    result = subprocess.run([HK, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode not in ok:
        sys.exit(f"`hk {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def truth_by_lead(truth: Path) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(source, external_id) → (true P(convert), its knowable log-odds, converted) for the
    good leads with an external id. Knowable: without the seller's random effect, which no
    data shows (the best any model could rank with)."""
    out = {}
    with truth.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["external_id"] and not row["defect"]:
                p = min(max(float(row["p_convert"]), 1e-6), 1 - 1e-6)
                knowable = np.log(p / (1 - p)) - float(row["random_effect"])
                out[(row["source"], row["external_id"])] = (
                    p,
                    knowable,
                    int(row["will_convert"] in ("1", "True", "true")),
                )
    return out


def measure(book: str, n_leads: int) -> dict[str, object]:
    behaviour, seed = book.split(":")
    url = fresh_database(DB)
    with tempfile.TemporaryDirectory(prefix="hk-quality-") as scratch:
        home, out = Path(scratch) / "home", Path(scratch) / "book"
        env = bench_env(HK_DATABASE_URL=url, HK_HOME=str(home))
        run(["generate", "--leads", str(n_leads), "--seed", seed, "--out", str(out),
             "--behaviour", behaviour, "--truth"], env)  # fmt: skip
        run(["reference", "import", "properties", str(out / "properties.csv")], env, (0, 1))
        run(["leads", "import", str(out / "leads.csv")], env, (0, 1))
        run(["events", "import", str(out / "stage_events.csv")], env, (0, 1))
        started = time.perf_counter()
        report = run(["pipeline", "run"], env)
        seconds = time.perf_counter() - started
        gate = next((line.strip() for line in report.splitlines() if "champion v" in line), "?")
        truth = truth_by_lead(out / "truth" / "leads.csv")

        from hk_core.settings import Settings
        from ml.data import lead_feature_schema, read_arrow
        from ml.registry import load_champion, tracking_uri

        champion = load_champion(tracking_uri(Settings(database_url=url, home=home)))
        assert champion is not None, f"{book}: no champion after hk pipeline run\n{report}"
        recent = read_arrow(
            url,
            "select * from marts.lead_features where received_at > "
            f"(select max(received_at) from marts.lead_features) - interval '{RECENT_DAYS} days'",
            lead_feature_schema(),
        )
        keys = list(zip(recent.column("source").to_pylist(),
                        recent.column("external_id").to_pylist(), strict=True))  # fmt: skip
        known = np.array([key in truth for key in keys])
        scores = champion.model.predict_proba(recent.filter(known))
        p_true, knowable, outcome = map(
            np.array, zip(*(truth[k] for k in keys if k in truth), strict=True)
        )
        with psycopg.connect(url) as conn:
            open_leads, scored = conn.execute(
                "select count(*) filter (where is_open), count(*) filter (where is_open and "
                "score is not null) from marts.scored_leads"
            ).fetchone()  # type: ignore[misc]
    drop_database(DB)
    model_auc = float(roc_auc_score(outcome, scores))
    true_auc = float(roc_auc_score(outcome, p_true))
    knowable_auc = float(roc_auc_score(outcome, knowable))
    return {
        "book": book, "champion": f"v{champion.version} {champion.model.kind}",
        "recent leads": int(known.sum()), "conversions": int(outcome.sum()),
        "champion AUC": round(model_auc, 4), "true AUC": round(true_auc, 4),
        "ratio": round(model_auc / true_auc, 4), "knowable AUC": round(knowable_auc, 4),
        "ratio to knowable": round(model_auc / knowable_auc, 4),
        "open leads scored": f"{scored}/{open_leads}",
        "pipeline s": round(seconds), "gate": gate,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--books", nargs="+", default=list(DEFAULT_BOOKS),
                        help="behaviour:seed, e.g. investor:1 interactions:4")  # fmt: skip
    args = parser.parse_args()
    print(f"model quality, {args.leads:,} leads per book; {machine()}")
    rows = []
    for book in args.books:
        row = measure(book, args.leads)
        rows.append(row)
        print(" | ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    columns = [c for c in rows[0] if c != "gate"]
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    for row in rows:
        print(f"- {row['book']}: {row['gate']}")


if __name__ == "__main__":
    main()
