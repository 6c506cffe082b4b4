"""The latent seller and whether they convert: a timeline given the motivation, and a logistic
model of things an investor knows matter. Two behaviours (a book's ``behaviour``):
``investor`` (``CONVERSION_MODEL``, main effects) and ``interactions``
(``INTERACTION_MODEL``: only combinations matter, nothing alone), so the platform can be tried
on a book whose conversion a linear model cannot describe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .arrays import _p
from .vocabulary import CONDITIONS, MOTIVATIONS, SOURCES, TIMELINES

if TYPE_CHECKING:
    from .chunk import _Chunk

# The latent conversion model: logit P(reaches under_contract within 90 days) is the sum of
# these terms over the lead's true attributes, plus a normal random effect. Log-odds units.
CONVERSION_MODEL: dict[str, Any] = {
    "intercept": -4.6,
    "equity_ratio": 1.8,  # x (value - mortgage) / value, clipped to [-0.5, 1]
    "motivation": {
        "foreclosure": 1.1,
        "divorce": 0.8,
        "inherited": 1.0,
        "relocation": 0.3,
        "financial_distress": 0.6,
        "tired_landlord": 0.5,
        "repairs": 0.4,
        "downsizing": 0.1,
        "tax_problems": 0.9,
        "curious": -1.6,
        "other": 0.0,
    },
    "timeline": {
        "asap": 1.0,
        "30_days": 0.7,
        "90_days": 0.3,
        "6_months": -0.4,
        "12_months_plus": -1.3,
        "unknown": -0.4,
    },
    "condition": {"excellent": -0.3, "good": 0.0, "fair": 0.1, "poor": 0.3, "distressed": 0.4},
    "vacant": 0.5,
    "tax_delinquent": 0.5,
    "in_foreclosure": 0.7,
    "absentee_owner": 0.4,
    "source": {
        "referral": 0.8,
        "direct_mail": 0.5,
        "cold_call": 0.2,
        "web_form": 0.0,
        "sms_campaign": -0.1,
        "vendor_x": -0.3,
        "ppc": -0.5,
        "list_import": -0.6,
    },
    "phone_unusable": -1.0,  # phone missing or invalid
    "email_unusable": -0.4,  # email missing or invalid
    "no_usable_contact": -1.5,  # added when neither phone nor email is usable
    "asking_premium": -3.0,  # x min(max(asking / value - 1, 0), 1)
    "random_effect_sd": 0.8,
}


# The "interactions" behaviour: logit = intercept + the sum of these terms, each the product of
# two conditions (log-odds units), plus the same random effect. No single attribute moves the
# odds by itself, so a model must find the pairs.
INTERACTION_MODEL: dict[str, float] = {
    "intercept": -4.1,
    "high_equity_and_urgent": 2.4,  # equity >= 0.5 and motivation foreclosure/tax/distress/inherited
    "vacant_and_absentee": 1.8,
    "tax_delinquent_and_absentee": 1.6,
    "fair_price_and_soon": 1.5,  # asking <= value and timeline asap/30 days
    "referral_and_reachable": 1.2,  # a referral with a usable phone
    "random_effect_sd": 0.6,
}
BEHAVIOURS = ("investor", "interactions")
_URGENT_MOTIVATIONS = [0, 2, 4, 8]  # foreclosure, inherited, financial_distress, tax_problems


class _Latent(NamedTuple):
    asking_ratio: np.ndarray  # what the seller expects, relative to value
    equity: np.ndarray
    random_effect: np.ndarray
    p_convert: np.ndarray
    will_convert: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_timeline(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    """Each seller's timeline (into TIMELINES), given their motivation ``m``."""
    n = len(m)
    base = np.tile(_p((0.16, 0.2, 0.22, 0.14, 0.12, 0.16)), (n, 1))
    urgent = np.isin(m, [0, 8])  # foreclosure, tax_problems
    base[urgent] = _p((0.4, 0.3, 0.15, 0.05, 0.02, 0.08))
    base[m == 9] = _p((0.02, 0.05, 0.12, 0.2, 0.36, 0.25))  # curious
    base[m == 1] = _p((0.25, 0.3, 0.2, 0.1, 0.05, 0.1))  # divorce
    u = rng.random(n)[:, None]
    return (u > np.cumsum(base, axis=1)).sum(axis=1).clip(0, len(TIMELINES) - 1)


def draw_conversion(chunk: _Chunk) -> _Latent:
    """The asking ratio, equity, P(convert) and the draw of whether each lead converts (bad
    rows never do)."""
    rng, p, n = chunk.rng, chunk.parcels, chunk.n
    cm = CONVERSION_MODEL
    # The seller's price expectation relative to value; some are dreamers.
    ratio = np.exp(rng.normal(0.02, 0.15, n))
    dreamer = rng.random(n) < 0.1
    ratio[dreamer] = rng.uniform(1.3, 2.0, int(dreamer.sum()))
    distressed = np.isin(chunk.motivation, [0, 4, 8])
    ratio[distressed] *= 0.9
    value = p.value[:n]
    equity = np.clip((value - p.mortgage[:n]) / value, -0.5, 1.0)
    if chunk.book.behaviour == "interactions":
        random_effect = rng.normal(0, INTERACTION_MODEL["random_effect_sd"], n)
        logit = _interaction_logit(chunk, ratio, equity) + random_effect
        p_convert = _sigmoid(logit)
        will_convert = (rng.random(n) < p_convert) & ~chunk.bad
        return _Latent(ratio, equity, random_effect, p_convert, will_convert)
    random_effect = rng.normal(0, cm["random_effect_sd"], n)

    def table(key: str, names: Sequence[str]) -> np.ndarray:
        return np.array([cm[key][name] for name in names])

    logit = (
        cm["intercept"]
        + cm["equity_ratio"] * equity
        + table("motivation", MOTIVATIONS)[chunk.motivation]
        + table("timeline", TIMELINES)[chunk.timeline]
        + table("condition", CONDITIONS)[p.condition[:n]]
        + cm["vacant"] * (p.occupancy[:n] == 2)
        + cm["tax_delinquent"] * p.tax_delinquent[:n]
        + cm["in_foreclosure"] * p.in_foreclosure[:n]
        + cm["absentee_owner"] * p.absentee[:n]
        + table("source", SOURCES)[chunk.source]
        + cm["phone_unusable"] * (chunk.phone_state != 0)
        + cm["email_unusable"] * (chunk.email_state != 0)
        + cm["no_usable_contact"] * ((chunk.phone_state != 0) & (chunk.email_state != 0))
        + cm["asking_premium"] * np.clip(ratio - 1.0, 0.0, 1.0)
        + random_effect
    )
    p_convert = _sigmoid(logit)
    will_convert = (rng.random(n) < p_convert) & ~chunk.bad
    return _Latent(ratio, equity, random_effect, p_convert, will_convert)


def _interaction_logit(chunk: _Chunk, ratio: np.ndarray, equity: np.ndarray) -> np.ndarray:
    im, p, n = INTERACTION_MODEL, chunk.parcels, chunk.n
    absentee = p.absentee[:n].astype(bool)
    urgent = np.isin(chunk.motivation, _URGENT_MOTIVATIONS)
    soon = np.isin(chunk.timeline, [0, 1])  # asap, 30_days
    referral = chunk.source == SOURCES.index("referral")
    return (
        im["intercept"]
        + im["high_equity_and_urgent"] * ((equity >= 0.5) & urgent)
        + im["vacant_and_absentee"] * ((p.occupancy[:n] == 2) & absentee)
        + im["tax_delinquent_and_absentee"] * (p.tax_delinquent[:n].astype(bool) & absentee)
        + im["fair_price_and_soon"] * ((ratio <= 1.0) & soon)
        + im["referral_and_reachable"] * (referral & (chunk.phone_state == 0))
    )
