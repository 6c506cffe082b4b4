"""Fit the conversion model (XGBoost) and its baseline (regularised logistic regression).

Both read the same encoded matrix (``FeatureEncoder`` fit on the training rows only), so the
baseline is a fair yardstick: whatever the trees gain comes from the model, not the features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import xgboost as xgb

from hk_core.features import FEATURES, LABEL, Feature
from ml.encoding import DEFAULT_MIN_COUNT, FeatureEncoder
from ml.linear import LinearModel

ModelKind = Literal["xgboost", "logistic"]

# No scale_pos_weight: the score is read as a probability (a lead's chance of a deal, compared
# across sources and summed into expected deals), and reweighting the ~8% positives would
# inflate every probability several-fold for no gain in ranking. docs/ml.md, "Class imbalance".
DEFAULT_XGB_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",  # early stopping on a proper score keeps probabilities honest
    "tree_method": "hist",
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "seed": 0,
}
DEFAULT_NUM_BOOST_ROUND = 1000
DEFAULT_EARLY_STOPPING_ROUNDS = 50
# C = 1 / regularisation strength on standardised columns: 0.1 keeps one-hot levels with few
# positives from getting large coefficients on their own.
DEFAULT_BASELINE_C = 0.1
DEFAULT_BASELINE_MAX_ITER = 2000


def labels(table: pa.Table) -> np.ndarray:
    """The training label as 0/1 floats."""
    return np.asarray(table.column(LABEL).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True)
class TrainedModel:
    """A fitted encoder and estimator: everything scoring needs, and nothing else.

    ``estimator`` is an XGBoost booster (``kind`` "xgboost") or the logistic baseline's
    run-time arrays (``LinearModel``, ``kind`` "logistic"): either can be champion.
    """

    encoder: FeatureEncoder
    estimator: xgb.Booster | LinearModel
    kind: ModelKind
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.encoder.feature_names

    @property
    def booster(self) -> xgb.Booster:
        if not isinstance(self.estimator, xgb.Booster):
            raise TypeError(f"a {self.kind} model has no booster")
        return self.estimator

    @property
    def linear(self) -> LinearModel:
        if not isinstance(self.estimator, LinearModel):
            raise TypeError(f"a {self.kind} model has no linear coefficients")
        return self.estimator

    def predict_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """P(conversion) for each row of an encoded matrix, as float64."""
        if isinstance(self.estimator, xgb.Booster):
            # inplace_predict skips the DMatrix copy: the fast path for batch and online.
            return np.asarray(self.estimator.inplace_predict(matrix), dtype=np.float64)
        return self.estimator.predict_proba(matrix)

    def predict_proba(self, table: pa.Table) -> np.ndarray:
        """Batch: P(conversion) for each lead of an Arrow table of raw features."""
        return self.predict_proba_matrix(self.encoder.transform_arrow(table))

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Online: P(conversion) for a few leads given as mappings of raw features."""
        return self.predict_proba_matrix(self.encoder.transform_rows(rows))

    def contributions(self, matrix: np.ndarray, *, approximate: bool = False) -> np.ndarray:
        """Each feature's push on the log-odds, (rows, features) in ``feature_names`` order.

        XGBoost: exact TreeSHAP values (``approximate``: Saabas path attributions, ~25x
        faster, see ``ml.scoring.score_leads``), summed over a categorical's one-hot columns; either way the row
        sums plus the model's bias give the log-odds. Baseline: coefficient x standardised
        value (imputed value and was-missing indicator both count for their feature,
        ``ml.linear``).
        """
        if isinstance(self.estimator, xgb.Booster):
            dmatrix = xgb.DMatrix(matrix, missing=np.nan)
            per_column = self.estimator.predict(
                dmatrix, pred_contribs=True, approx_contribs=approximate
            )[:, :-1]
            return self.encoder.sum_by_feature(np.asarray(per_column, dtype=np.float64))
        return np.asarray(self.encoder.sum_by_feature(self.estimator.contributions(matrix)))


def train_xgboost(
    train: pa.Table,
    valid: pa.Table,
    params: Mapping[str, Any] | None = None,
    *,
    num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
    early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS,
    min_count: int = DEFAULT_MIN_COUNT,
    features: Sequence[Feature] = FEATURES,
) -> TrainedModel:
    """Gradient-boosted trees, early-stopped on ``valid`` (the more recent leads).

    Keep the gate's holdout out of ``valid``: the number of trees is chosen on ``valid``,
    so its score there is optimistic.
    """
    encoder = FeatureEncoder.fit(train, features, min_count)
    merged = {**DEFAULT_XGB_PARAMS, **(params or {})}
    dtrain = xgb.DMatrix(encoder.transform_arrow(train), label=labels(train), missing=np.nan)
    dvalid = xgb.DMatrix(encoder.transform_arrow(valid), label=labels(valid), missing=np.nan)
    booster = xgb.train(
        merged,
        dtrain,
        num_boost_round=num_boost_round,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best_iteration = booster.best_iteration
    # xgb.train returns the last round, not the best: keep only the best trees, so the saved
    # model, inplace_predict and pred_contribs all agree without passing iteration_range.
    booster = booster[: best_iteration + 1]
    used = {**merged, "num_boost_round": num_boost_round, "best_iteration": best_iteration}
    return TrainedModel(encoder, booster, "xgboost", used)


def train_baseline(
    train: pa.Table,
    *,
    c: float = DEFAULT_BASELINE_C,
    max_iter: int = DEFAULT_BASELINE_MAX_ITER,
    min_count: int = DEFAULT_MIN_COUNT,
    features: Sequence[Feature] = FEATURES,
) -> TrainedModel:
    """Median-imputed, standardised, L2-regularised logistic regression on the same matrix.

    scikit-learn fits it; what is kept is its arrays (``ml.linear.LinearModel``): the median
    and scale learned here are reused at prediction (never re-fit on the leads being scored),
    and scoring needs no scikit-learn.
    """
    # Imported here: only training needs scikit-learn, not the API or the nightly scoring.
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    encoder = FeatureEncoder.fit(train, features, min_count)
    pipeline = Pipeline(
        [
            # keep_empty_features: a column empty in training still occupies its slot, so the
            # imputer's output lines up with the encoder's columns (contributions rely on it).
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
            ("logistic", LogisticRegression(C=c, max_iter=max_iter)),
        ]
    )
    pipeline.fit(encoder.transform_arrow(train), labels(train))
    linear = LinearModel.from_pipeline(pipeline, encoder.n_columns)
    return TrainedModel(encoder, linear, "logistic", {"C": c, "max_iter": max_iter})
