"""ml.forest: the NumPy form of the booster equals XGBoost, scores and contributions."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from ml.forest import Forest
from ml.synthetic import synthetic_feature_table
from ml.training import train_xgboost


def _booster(rows: int, depth: int, seed: int) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    x[rng.random(x.shape) < 0.2] = np.nan  # missing values take the default branch
    logit = np.nan_to_num(x[:, 0]) * 1.5 - np.nan_to_num(x[:, 1]) + (x[:, 2] > 0.5)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    params = {"objective": "binary:logistic", "max_depth": depth, "min_child_weight": 20,
              "seed": seed, "nthread": 1}  # fmt: skip
    booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=60)
    return booster, x


@pytest.mark.parametrize(("depth", "seed"), [(1, 0), (3, 1), (6, 2)])
def test_scores_and_saabas_contributions_equal_xgboost(depth, seed):
    booster, x = _booster(3000, depth, seed)
    forest = Forest.from_booster(booster, x.shape[1])
    scores, contributions = forest.predict_with_contributions(x)
    assert np.abs(scores - booster.inplace_predict(x)).max() <= 1e-6
    expected = booster.predict(xgb.DMatrix(x, missing=np.nan), pred_contribs=True,
                               approx_contribs=True)  # fmt: skip
    assert np.abs(contributions - expected[:, :-1]).max() <= 1e-5
    # One row at a time (the online path) gives the same as the batch of rows.
    single = np.concatenate([forest.predict_proba(x[i : i + 1]) for i in range(50)])
    assert np.array_equal(single, scores[:50])


def test_the_platform_model_and_extreme_values():
    table = synthetic_feature_table(6000, 3)
    model = train_xgboost(table.slice(0, 4800), table.slice(4800), {"nthread": 1})
    forest = Forest.from_booster(model.booster, model.encoder.n_columns)
    matrix = model.encoder.transform_arrow(table)
    assert np.abs(forest.predict_proba(matrix) - model.predict_proba_matrix(matrix)).max() <= 1e-6
    matrix[:5] = 1e300  # beyond float32: ±inf in both
    matrix[5:10] = -1e300
    assert (
        np.abs(forest.predict_proba(matrix[:10]) - model.predict_proba_matrix(matrix[:10])).max()
        <= 1e-6
    )


def test_only_what_the_platform_trains_is_accepted():
    x = np.random.default_rng(0).normal(size=(200, 3))
    y = x[:, 0] * 2
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(x, label=y), 5)
    with pytest.raises(ValueError, match="binary:logistic"):
        Forest.from_booster(booster, 3)
    classifier, _ = _booster(500, 2, 0)
    with pytest.raises(ValueError, match="column the encoder does not have"):
        Forest.from_booster(classifier, 2)
