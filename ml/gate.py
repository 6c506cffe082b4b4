"""The promotion gate: a challenger replaces the champion only when it is clearly better.

Both models are scored on the same, most recent holdout (leads neither was fit on), in the
same run, so the comparison cannot be skewed by a different month or a different base rate.
The metric is PR AUC (average precision): with ~8% converting, it measures how clean the top
of the call list is, which is where the acquisitions team spends its time; ROC AUC is
dominated by the easy ordering of the many non-converting leads (docs/ml.md, "Gate").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from ml.evaluation import evaluate
from ml.registry import CHAMPION, MODEL_NAME, configure
from ml.training import TrainedModel, labels

GATE_METRIC = "pr_auc"
# Absolute PR AUC points. Below this a "better" challenger is within the noise of a holdout
# of a few thousand leads, and every promotion reshuffles the reps' call lists.
DEFAULT_MARGIN = 0.005
TAG_PREFIX = "gate."


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None
    baseline_score: float
    margin: float

    def tags(self) -> dict[str, str]:
        """The decision as model-version tags (MLflow tags are strings; floats in full)."""
        return {
            f"{TAG_PREFIX}promoted": str(self.promote).lower(),
            f"{TAG_PREFIX}reason": self.reason,
            f"{TAG_PREFIX}metric": self.metric,
            f"{TAG_PREFIX}challenger_score": str(self.challenger_score),
            f"{TAG_PREFIX}champion_score": (
                "none" if self.champion_score is None else str(self.champion_score)
            ),
            f"{TAG_PREFIX}baseline_score": str(self.baseline_score),
            f"{TAG_PREFIX}margin": str(self.margin),
        }


def evaluate_gate(
    challenger: TrainedModel,
    champion: TrainedModel | None,
    baseline_metrics: Mapping[str, float],
    holdout: pa.Table,
    margin: float = DEFAULT_MARGIN,
    metric: str = GATE_METRIC,
) -> GateDecision:
    """Promote if the challenger beats the baseline and (when there is one) the champion by
    ``margin``, all on ``holdout``; ``baseline_metrics`` must come from the same rows."""
    y = labels(holdout)
    challenger_score = evaluate(y, challenger.predict_proba(holdout))[metric]
    baseline_score = float(baseline_metrics[metric])
    champion_score = (
        None if champion is None else evaluate(y, champion.predict_proba(holdout))[metric]
    )

    def decide(promote: bool, reason: str) -> GateDecision:
        return GateDecision(
            promote, reason, metric, challenger_score, champion_score, baseline_score, margin
        )

    if challenger_score <= baseline_score:
        return decide(
            False,
            f"{metric} {challenger_score:.4f} does not beat the baseline's {baseline_score:.4f}",
        )
    if champion_score is None:
        return decide(
            True,
            f"first model: {metric} {challenger_score:.4f} beats the baseline's {baseline_score:.4f}",
        )
    if challenger_score < champion_score + margin:
        return decide(
            False,
            f"{metric} {challenger_score:.4f} is not {margin:g} above the champion's "
            f"{champion_score:.4f}",
        )
    return decide(
        True,
        f"{metric} {challenger_score:.4f} beats the champion's {champion_score:.4f} by "
        f"{challenger_score - champion_score:.4f} (margin {margin:g}) and the baseline's "
        f"{baseline_score:.4f}",
    )


def record_decision(
    uri: str, decision: GateDecision, version: str, model_name: str = MODEL_NAME
) -> None:
    """Tag the challenger's version with the decision; move ``champion`` to it if promoted.

    The version that was champion is tagged too (``gate.previous_champion``), so the history
    of promotions can be read from the registry alone.
    """
    client = configure(uri)
    previous = client.get_registered_model(model_name).aliases.get(CHAMPION)
    tags = {**decision.tags(), f"{TAG_PREFIX}previous_champion": str(previous or "none")}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, version)
