"""ml.compiled: the batch's compiled walk equals XGBoost and the online NumPy forest."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from test_forest import _booster

from ml.compiled import CompiledForest
from ml.forest import Forest
from ml.scoring import BatchScorer
from ml.synthetic import synthetic_feature_table
from ml.training import train_xgboost


@pytest.mark.parametrize(("depth", "seed", "rows"), [(1, 0, 3000), (3, 1, 3001), (6, 2, 130)])
def test_scores_and_contributions_equal_xgboost_and_the_online_forest(depth, seed, rows):
    booster, x = _booster(rows, depth, seed)  # 20% missing values; rows not a block multiple
    forest = Forest.from_booster(booster, x.shape[1])
    compiled = CompiledForest(forest)
    scores, contributions = compiled.predict_with_contributions(x)
    assert np.abs(scores - booster.inplace_predict(x)).max() <= 1e-6
    assert np.array_equal(compiled.predict_proba(x), scores)
    expected = booster.predict(xgb.DMatrix(x, missing=np.nan), pred_contribs=True,
                               approx_contribs=True)  # fmt: skip
    assert np.abs(contributions - expected[:, :-1]).max() <= 1e-5
    # The online API explains with ml.forest: the same credits.
    online_scores, online = forest.predict_with_contributions(x)
    assert np.array_equal(online_scores, scores)
    assert np.abs(online - contributions).max() <= 1e-12
    # Any memory layout of the matrix, and no rows at all.
    assert np.array_equal(compiled.predict_proba(np.asfortranarray(x)), scores)
    assert np.array_equal(compiled.predict_proba(x[::2]), scores[::2])
    assert compiled.predict_with_contributions(x[:0])[1].shape == (0, x.shape[1])
    with pytest.raises(ValueError, match="encoded columns"):
        compiled.predict_proba(x[:, :3])


def test_the_platform_model_extreme_values_and_the_batch_scorer():
    table = synthetic_feature_table(6000, 3)
    model = train_xgboost(table.slice(0, 4800), table.slice(4800), {"nthread": 1})
    scorer = BatchScorer(model)
    matrix = model.encoder.transform_arrow(table)
    matrix[:5] = 1e300  # beyond float32: +inf in both
    matrix[5:10] = -1e300
    assert np.abs(scorer.predict(matrix) - model.predict_proba_matrix(matrix)).max() <= 1e-6
    # XGBoost's DMatrix refuses values beyond float32 ("inf or a value too large"), so its
    # reasons would stop the night on such a row; the compiled walk explains it.
    with pytest.raises(xgb.core.XGBoostError, match="too large"):
        model.contributions(matrix, approximate=True)
    explained = scorer.contributions(matrix, approximate=True)
    assert np.isfinite(explained).all()
    expected = model.contributions(matrix[10:], approximate=True)
    assert np.abs(explained[10:] - expected).max() <= 1e-5
    # Exact reasons stay XGBoost's TreeSHAP.
    exact = scorer.contributions(matrix[10:60], approximate=False)
    assert np.array_equal(exact, model.contributions(matrix[10:60], approximate=False))
