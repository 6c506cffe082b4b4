"""The promotion gate's margin: a challenger must beat the champion by it, not merely beat it.

Two real models on one synthetic book: the baseline (champion here) and XGBoost (the
challenger, clearly better). The margin is set relative to the measured lead, so the test
holds whatever the exact scores are.
"""

from __future__ import annotations

import pytest

from ml.data import time_split
from ml.evaluation import evaluate
from ml.gate import GATE_METRIC, evaluate_gate
from ml.synthetic import synthetic_feature_table
from ml.training import labels, train_baseline, train_xgboost


@pytest.fixture(scope="module")
def models():
    leads = synthetic_feature_table(6000, 11)
    older, holdout = time_split(leads, 0.25)
    train, valid = time_split(older, 0.2)
    baseline = train_baseline(train)
    challenger = train_xgboost(train, valid, {"nthread": 1, "max_depth": 3})
    y = labels(holdout)
    baseline_metrics = evaluate(y, baseline.predict_proba(holdout))
    lead = (
        evaluate(y, challenger.predict_proba(holdout))[GATE_METRIC] - baseline_metrics[GATE_METRIC]
    )
    assert lead > 0.01, "the book should make XGBoost clearly better than the baseline"
    return challenger, baseline, baseline_metrics, holdout, lead


def test_a_challenger_better_by_half_the_margin_is_refused(models):
    challenger, champion, baseline_metrics, holdout, lead = models
    decision = evaluate_gate(challenger, champion, baseline_metrics, holdout, margin=2 * lead)
    assert not decision.promote, decision.reason
    assert "is not" in decision.reason and "above the champion's" in decision.reason


def test_a_challenger_better_by_twice_the_margin_is_promoted(models):
    challenger, champion, baseline_metrics, holdout, lead = models
    decision = evaluate_gate(challenger, champion, baseline_metrics, holdout, margin=lead / 2)
    assert decision.promote, decision.reason
    assert decision.challenger_score - decision.champion_score == pytest.approx(lead)
