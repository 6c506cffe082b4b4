"""The logistic baseline at run time: plain NumPy arrays, the same code online and in batch.

scikit-learn fits the baseline (median imputation with was-missing indicators, standardising,
L2 logistic regression, ``ml.training.train_baseline``); this is what is left of that
pipeline once fitted, so the API and the nightly rescoring score it without importing
scikit-learn, from a JSON file a reader can open. One lead and a million leads go through
the same function (``predict_with_contributions``), so the online score equals the batch
score (to the last bits of a float64 dot product).

A contribution is a column's coefficient times its standardised value: how much further
from the average lead's log-odds this lead is because of that column. The was-missing
indicator of a column is credited to the column itself, so summing by feature
(``FeatureEncoder.sum_by_feature``) gives each feature's push, as for the trees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

KIND = "logistic"


@dataclass(frozen=True)
class LinearModel:
    """A fitted imputer + scaler + logistic regression over ``n_columns`` encoded columns."""

    fill: np.ndarray  # (n_columns,) the training median put in place of a missing value
    indicator_columns: np.ndarray  # encoded columns that get a was-missing indicator
    mean: np.ndarray  # (n_columns + n_indicators,) the scaler's centre
    scale: np.ndarray  # (n_columns + n_indicators,) the scaler's unit (1 for a constant)
    coef: np.ndarray  # (n_columns + n_indicators,) log-odds per standardised unit
    intercept: float

    @property
    def n_columns(self) -> int:
        return int(self.fill.shape[0])

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, n_columns: int) -> LinearModel:
        """The arrays of a fitted ``impute`` → ``scale`` → ``logistic`` pipeline."""
        imputer = pipeline.named_steps["impute"]
        scaler = pipeline.named_steps["scale"]
        logistic = pipeline.named_steps["logistic"]
        indicator = getattr(imputer, "indicator_", None)
        columns = (
            np.zeros(0, dtype=np.intp)
            if indicator is None
            else np.asarray(indicator.features_, dtype=np.intp)
        )
        fill = np.asarray(imputer.statistics_, dtype=np.float64)
        if fill.shape[0] != n_columns:
            raise ValueError(f"the imputer has {fill.shape[0]} columns, the encoder {n_columns}")
        return cls(
            fill=fill,
            indicator_columns=columns,
            mean=np.asarray(scaler.mean_, dtype=np.float64),
            scale=np.asarray(scaler.scale_, dtype=np.float64),
            coef=np.asarray(logistic.coef_[0], dtype=np.float64),
            intercept=float(logistic.intercept_[0]),
        )

    def _standardised_terms(self, matrix: np.ndarray) -> np.ndarray:
        """coef x standardised value of every column and indicator, (rows, columns + indicators),
        C-ordered so that each row is summed the same way whatever the batch."""
        x = np.asarray(matrix, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_columns:
            raise ValueError(f"expected (rows, {self.n_columns}) encoded columns, got {x.shape}")
        missing = np.isnan(x)
        imputed = np.where(missing, self.fill, x)
        indicators = missing[:, self.indicator_columns].astype(np.float64)
        full = np.ascontiguousarray(np.hstack([imputed, indicators]))
        return np.ascontiguousarray((full - self.mean) / self.scale * self.coef)

    def _fold(self, terms: np.ndarray) -> np.ndarray:
        """Each indicator's term added to its own column: (rows, n_columns)."""
        per_column = np.array(terms[:, : self.n_columns])
        per_column[:, self.indicator_columns] += terms[:, self.n_columns :]
        return per_column

    def predict_with_contributions(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(conversion), contributions per encoded column) for each row."""
        terms = self._standardised_terms(matrix)
        return _sigmoid(self.intercept + terms.sum(axis=1)), self._fold(terms)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return _sigmoid(self.intercept + self._standardised_terms(matrix).sum(axis=1))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        return self._fold(self._standardised_terms(matrix))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "fill": self.fill.tolist(),
            "indicator_columns": self.indicator_columns.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        if data.get("kind") != KIND:
            raise ValueError(f"not a {KIND} model file (kind {data.get('kind')!r})")
        model = cls(
            fill=np.asarray(data["fill"], dtype=np.float64),
            indicator_columns=np.asarray(data["indicator_columns"], dtype=np.intp),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
        )
        width = model.n_columns + len(model.indicator_columns)
        for name in ("mean", "scale", "coef"):
            if getattr(model, name).shape != (width,):
                raise ValueError(f"{name} has {getattr(model, name).shape[0]} values, not {width}")
        if not math.isfinite(model.intercept) or not np.all(np.isfinite(model.coef)):
            raise ValueError("the model file has a non-finite coefficient")
        return model


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    # Split by sign so that a very negative logit does not overflow exp (sklearn's expit does
    # the same), and a lead far outside the training range still gets a probability.
    out = np.empty_like(logit, dtype=np.float64)
    positive = logit >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-logit[positive]))
    e = np.exp(logit[~positive])
    out[~positive] = e / (1.0 + e)
    return out
