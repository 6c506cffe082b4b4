"""How good a conversion score is: ranking, probability quality, and what the top decile buys.

Pure functions of (labels, probabilities), so the gate, the Dagster assets and a notebook
compute the same numbers; ``save_plots`` draws them with the Agg canvas (no display, no
pyplot global state, safe in a worker thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

N_BINS = 10
TOP_FRACTION = 0.1  # the decile the acquisitions team calls first
# Probabilities are clipped this far from 0 and 1 for log loss: one confident miss must not
# make the whole number infinite.
PROBABILITY_EPSILON = 1e-15
N_IMPORTANCE_SHOWN = 20


@dataclass(frozen=True)
class ReliabilityCurve:
    """Mean predicted probability vs observed conversion rate per score bin."""

    mean_predicted: np.ndarray
    observed_rate: np.ndarray
    counts: np.ndarray

    @property
    def expected_calibration_error(self) -> float:
        weights = self.counts / max(int(self.counts.sum()), 1)
        return float(np.sum(weights * np.abs(self.mean_predicted - self.observed_rate)))


def reliability_curve(y_true: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> ReliabilityCurve:
    """Bins of equal count (score deciles for 10 bins).

    Equal-width bins would put ~90% of leads in the first bin when ~8% convert, and say
    nothing about the scores that matter; equal-count bins weigh every bin the same.
    """
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, n_bins) if len(b)]
    return ReliabilityCurve(
        mean_predicted=np.array([p[b].mean() for b in bins]),
        observed_rate=np.array([y_true[b].mean() for b in bins]),
        counts=np.array([len(b) for b in bins]),
    )


def gains_curve(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share of leads contacted, share of conversions captured), best scores first."""
    order = np.argsort(-p, kind="stable")
    captured = np.cumsum(y_true[order]) / max(float(y_true.sum()), 1.0)
    contacted = np.arange(1, len(p) + 1) / len(p)
    return np.concatenate([[0.0], contacted]), np.concatenate([[0.0], captured])


def top_fraction_lift(
    y_true: np.ndarray, p: np.ndarray, fraction: float = TOP_FRACTION
) -> tuple[float, float]:
    """(lift, capture rate) of the best-scored ``fraction`` of leads.

    Lift: their conversion rate over the overall rate. Capture: their share of all conversions.
    """
    n_top = max(int(np.ceil(len(p) * fraction)), 1)
    top = np.argsort(-p, kind="stable")[:n_top]
    base_rate = float(y_true.mean())
    positives = float(y_true.sum())
    lift = float(y_true[top].mean()) / base_rate if base_rate > 0 else float("nan")
    capture = float(y_true[top].sum()) / positives if positives > 0 else float("nan")
    return lift, capture


def evaluate(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric we log, by name (MLflow metric names)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    lift, capture = top_fraction_lift(y, p)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON))),
        "brier": float(brier_score_loss(y, p)),
        "ece": reliability_curve(y, p).expected_calibration_error,
        "top_decile_lift": lift,
        "top_decile_capture": capture,
        "positive_rate": float(y.mean()),
        "mean_score": float(p.mean()),
        "n_leads": float(len(y)),
    }


def mean_abs_contribution(
    contributions: np.ndarray, feature_names: tuple[str, ...]
) -> dict[str, float]:
    """Global importance: the mean absolute push of each feature on the log-odds."""
    values = np.abs(contributions).mean(axis=0)
    ranked = sorted(zip(feature_names, values.tolist(), strict=True), key=lambda kv: -kv[1])
    return dict(ranked)


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def save_plots(
    out_dir: Path,
    y_true: np.ndarray,
    p: np.ndarray,
    importance: Mapping[str, float],
    *,
    title: str = "lead conversion",
) -> dict[str, Path]:
    """Calibration, feature importance and cumulative gains/lift as PNGs in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    paths: dict[str, Path] = {}

    curve = reliability_curve(y, p)
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    top = max(float(curve.mean_predicted.max()), float(curve.observed_rate.max()), 0.01) * 1.1
    axes.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    axes.plot(curve.mean_predicted, curve.observed_rate, marker="o", label="score deciles")
    axes.set(
        xlabel="mean predicted probability",
        ylabel="observed conversion rate",
        title=f"{title}: calibration (ECE {curve.expected_calibration_error:.4f})",
    )
    axes.legend()
    paths["calibration"] = _save(figure, out_dir / "calibration.png")

    shown = list(importance.items())[:N_IMPORTANCE_SHOWN][::-1]
    figure = Figure(figsize=(7, 0.3 * len(shown) + 1.5))
    axes = figure.add_subplot()
    axes.barh([name for name, _ in shown], [value for _, value in shown])
    axes.set(xlabel="mean |contribution| (log-odds)", title=f"{title}: feature importance")
    paths["feature_importance"] = _save(figure, out_dir / "feature_importance.png")

    contacted, captured = gains_curve(y, p)
    figure = Figure(figsize=(10, 4.5))
    gains, lift = figure.subplots(1, 2)
    gains.plot(contacted, captured, label="model")
    gains.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    gains.set(xlabel="share of leads contacted", ylabel="share of conversions", title="gains")
    gains.legend()
    with np.errstate(divide="ignore", invalid="ignore"):
        cumulative_lift = np.where(contacted > 0, captured / contacted, np.nan)
    lift.plot(contacted[1:], cumulative_lift[1:])
    lift.axhline(1.0, linestyle="--", color="grey")
    lift.set(xlabel="share of leads contacted", ylabel="cumulative lift", title="lift")
    paths["gains_lift"] = _save(figure, out_dir / "gains_lift.png")
    return paths
