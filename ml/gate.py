"""The promotion gate: a challenger replaces the champion only when it is clearly better.

Both models are scored on the same, most recent holdout (leads neither was fit on), in the
same run, so the comparison cannot be skewed by a different month or a different base rate.
The metric is PR AUC (average precision): with ~8% converting, it measures how clean the top
of the call list is, which is where the acquisitions team spends its time; ROC AUC is
dominated by the easy ordering of the many non-converting leads (docs/ml.md, "Gate").

Two candidates stand each run: the challenger (XGBoost) and the logistic baseline trained on
the same rows. The better of them on the holdout is the run's candidate (the challenger only
if it beats the baseline). With no champion yet the candidate becomes champion, so once any
model is trained the CRM always has scores; otherwise it must beat the champion by
``margin``, or the champion stays.
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
CHALLENGER_CANDIDATE = "challenger"
BASELINE_CANDIDATE = "baseline"


@dataclass(frozen=True)
class GateDecision:
    promote: bool  # the champion alias moves to ``candidate``
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None
    baseline_score: float
    margin: float
    candidate: str = CHALLENGER_CANDIDATE  # the better of challenger and baseline

    @property
    def promotes_baseline(self) -> bool:
        return self.promote and self.candidate == BASELINE_CANDIDATE

    def tags(self) -> dict[str, str]:
        """The decision as model-version tags (MLflow tags are strings; floats in full)."""
        return {
            f"{TAG_PREFIX}promoted": str(self.promote).lower(),
            f"{TAG_PREFIX}candidate": self.candidate,
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
    *,
    baseline_can_serve: bool = True,
) -> GateDecision:
    """The better of challenger and baseline (the challenger must beat the baseline) becomes
    champion when there is none, or when it beats the champion by ``margin``; all scored on
    ``holdout``, and ``baseline_metrics`` must come from the same rows.

    ``baseline_can_serve=False`` (a run that logged no baseline model, e.g. one logged by
    hand): the baseline is only a yardstick, and with no champion the challenger is promoted
    anyway, as the one model there is."""
    y = labels(holdout)
    challenger_score = evaluate(y, challenger.predict_proba(holdout))[metric]
    baseline_score = float(baseline_metrics[metric])
    champion_score = (
        None if champion is None else evaluate(y, champion.predict_proba(holdout))[metric]
    )
    beats_baseline = challenger_score > baseline_score
    if beats_baseline or not baseline_can_serve:
        candidate, score, name = CHALLENGER_CANDIDATE, challenger_score, "the challenger"
        versus = (
            f"beats the baseline's {baseline_score:.4f}"
            if beats_baseline
            else f"below the baseline's {baseline_score:.4f}, which this run cannot serve"
        )
    else:
        candidate, score, name = BASELINE_CANDIDATE, baseline_score, "the baseline"
        versus = f"the challenger's {challenger_score:.4f} does not beat it"

    def decide(promote: bool, reason: str) -> GateDecision:
        return GateDecision(
            promote,
            reason,
            metric,
            challenger_score,
            champion_score,
            baseline_score,
            margin,
            candidate,
        )

    if champion_score is None:
        return decide(True, f"first model: {name}, {metric} {score:.4f} ({versus})")
    if candidate == CHALLENGER_CANDIDATE and not beats_baseline:
        return decide(False, f"champion kept: {name}'s {metric} {score:.4f} is {versus}")
    if score < champion_score + margin:
        return decide(
            False,
            f"champion kept: {name}'s {metric} {score:.4f} ({versus}) is not {margin:g} above "
            f"the champion's {champion_score:.4f}",
        )
    return decide(
        True,
        f"{name}'s {metric} {score:.4f} beats the champion's {champion_score:.4f} by "
        f"{score - champion_score:.4f} (margin {margin:g}; {versus})",
    )


def record_decision(
    uri: str,
    decision: GateDecision,
    version: str,
    model_name: str = MODEL_NAME,
    promoted_version: str | None = None,
) -> None:
    """Tag the challenger's version with the decision; if promoted, move ``champion`` to
    ``promoted_version`` (the registered baseline, when it won) or else to ``version``, and
    tag that version too.

    The version that was champion is tagged too (``gate.previous_champion``), so the history
    of promotions can be read from the registry alone.
    """
    if decision.promotes_baseline and promoted_version is None:
        raise ValueError("the baseline won: register it and pass its version as promoted_version")
    client = configure(uri)
    previous = client.get_registered_model(model_name).aliases.get(CHAMPION)
    tags = {**decision.tags(), f"{TAG_PREFIX}previous_champion": str(previous or "none")}
    target = promoted_version or version
    for tagged in dict.fromkeys((version, target)):
        for key, value in tags.items():
            client.set_model_version_tag(model_name, tagged, key, value)
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, target)
