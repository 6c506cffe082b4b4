"""Population stability: are today's leads (and their scores) still like the model's training rows?

At training time each feature's distribution over the training rows is kept as bins
(``drift_reference``, logged with the run as ``drift_reference.json``): numeric features by
the training deciles, plus a bin for missing; categorical and boolean features by value
(the values the encoder knows, ``__other__`` and ``__missing__``). The score gets decile
bins of the model's own scores on those rows. Later, the leads of a recent window are put in
the same bins and compared with the population stability index,
``PSI = sum((actual - expected) * ln(actual / expected))`` over the bins; by the usual rule
of thumb below 0.1 is stable, 0.1-0.25 a shift worth a look, above 0.25 a population the
model was not trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hk_core.features import Feature

N_BINS = 10
# A bin empty on one side would make PSI infinite; this share stands in for zero, so one
# empty bin adds a bounded, still visible amount.
EMPTY_SHARE = 1e-4
MISSING = "__missing__"
OTHER = "__other__"
SCORE = "score"  # the key of the score's bins beside the features'
REFERENCE_FILE = "drift_reference.json"  # logged with each training run


@dataclass(frozen=True)
class Bins:
    """How one column is binned and what share of the reference fell in each bin."""

    kind: str  # "numeric" (edges) or "categorical" (levels)
    edges: tuple[float, ...]  # numeric: inner cut points; bin i is (edges[i-1], edges[i]]
    levels: tuple[str, ...]  # categorical: the values with a bin of their own
    shares: tuple[float, ...]  # reference share per bin; the last bin is "missing"
    n: int  # reference rows

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "edges": list(self.edges), "levels": list(self.levels),
                "shares": list(self.shares), "n": self.n}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        return cls(
            str(data["kind"]),
            tuple(float(e) for e in data["edges"]),
            tuple(str(v) for v in data["levels"]),
            tuple(float(s) for s in data["shares"]),
            int(data["n"]),
        )

    def counts(self, values: pa.ChunkedArray | pa.Array | np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each bin (missing last)."""
        if self.kind == "numeric":
            x = _floats(values)
            missing = np.isnan(x)
            at = np.searchsorted(np.asarray(self.edges), x[~missing], side="left")
            counts = np.bincount(at, minlength=len(self.edges) + 1).astype(np.float64)
            return np.append(counts, float(missing.sum()))
        text = _texts(values)
        index = {level: i for i, level in enumerate(self.levels)}
        other = len(self.levels)
        counts = np.zeros(len(self.levels) + 2)
        for value, count in zip(*np.unique(text, return_counts=True), strict=True):
            if value == MISSING:
                counts[-1] += count
            else:
                counts[index.get(value, other)] += count
        return counts

    def psi(self, values: pa.ChunkedArray | pa.Array | np.ndarray) -> float:
        return population_stability(np.asarray(self.shares), self.counts(values))


def population_stability(expected_shares: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI of actual counts against expected shares over the same bins."""
    total = float(actual_counts.sum())
    if total == 0:
        return 0.0
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), EMPTY_SHARE)
    actual = np.maximum(actual_counts / total, EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _floats(values: pa.ChunkedArray | pa.Array | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    cast = pc.cast(values, pa.float64())
    return np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)


def _texts(values: pa.ChunkedArray | pa.Array | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        values = pa.array(values)
    text = pc.fill_null(pc.cast(values, pa.string()), MISSING)
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def numeric_bins(values: pa.ChunkedArray | pa.Array | np.ndarray, n_bins: int = N_BINS) -> Bins:
    x = _floats(values)
    present = x[~np.isnan(x)]
    edges = (
        np.unique(np.quantile(present, np.arange(1, n_bins) / n_bins))
        if present.size
        else np.zeros(0)
    )
    return _with_shares(Bins("numeric", tuple(edges.tolist()), (), (), len(x)), x)


def categorical_bins(values: pa.ChunkedArray | pa.Array, levels: Sequence[str]) -> Bins:
    return _with_shares(Bins("categorical", (), tuple(levels), (), len(values)), values)


def _with_shares(bins: Bins, values: pa.ChunkedArray | pa.Array | np.ndarray) -> Bins:
    """``bins`` with the share of ``values`` in each bin as its reference."""
    shares = bins.counts(values) / max(bins.n, 1)
    return replace(bins, shares=tuple(shares.tolist()))


def drift_reference(
    training: pa.Table,
    features: Sequence[Feature],
    scores_by_kind: Mapping[str, np.ndarray],
    levels: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Bins of every feature over ``training`` and of each model's scores on it (JSON-able).

    ``levels`` are the categorical values each feature's encoder knows.
    """
    bins: dict[str, Any] = {}
    for feature in features:
        column = training.column(feature.name)
        if feature.kind == "numeric":
            bins[feature.name] = numeric_bins(column).to_dict()
        elif feature.kind == "boolean":
            bins[feature.name] = categorical_bins(column, ("false", "true")).to_dict()
        else:
            known = [v for v in levels.get(feature.name, ()) if v not in (MISSING, OTHER)]
            bins[feature.name] = categorical_bins(column, known).to_dict()
    return {
        "features": bins,
        "scores": {kind: numeric_bins(s).to_dict() for kind, s in scores_by_kind.items()},
        "n_rows": training.num_rows,
    }


@dataclass(frozen=True)
class DriftReport:
    feature_psi: dict[str, float]  # feature → PSI, largest first
    score_psi: float | None  # None when the reference has no bins for this model kind
    n_current: int
    n_reference: int

    @property
    def worst_feature(self) -> tuple[str, float] | None:
        return next(iter(self.feature_psi.items()), None)


def measure_drift(
    reference: Mapping[str, Any],
    current: pa.Table,
    scores: np.ndarray,
    model_kind: str,
) -> DriftReport:
    """PSI of each reference feature present in ``current`` and of ``scores``."""
    psi = {
        name: Bins.from_dict(spec).psi(current.column(name))
        for name, spec in reference["features"].items()
        if name in current.column_names
    }
    ordered = dict(sorted(psi.items(), key=lambda item: -item[1]))
    score_spec = reference.get("scores", {}).get(model_kind)
    score_psi = (
        None if score_spec is None or len(scores) == 0 else Bins.from_dict(score_spec).psi(scores)
    )
    return DriftReport(ordered, score_psi, current.num_rows, int(reference.get("n_rows", 0)))
