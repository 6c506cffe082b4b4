"""A lead_features-shaped Arrow table with a label drawn from a known signal (tests, notebooks).

The book generator (``hk_core.synthetic``) makes raw leads that dbt turns into features; this
is the short cut for model code: features directly, and a label whose true log-odds we know,
so a test can tell a model that learned something from one that did not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from hk_core.features import FEATURES, LABEL
from hk_core.synthetic.vocabulary import (
    CONDITIONS,
    MOTIVATION_SHARE,
    MOTIVATIONS,
    OCCUPANCIES,
    PROPERTY_TYPE_SHARE,
    PROPERTY_TYPES,
    SOURCE_SHARE,
    SOURCES,
    TIMELINES,
)
from ml.data import lead_feature_schema

POSITIVE_RATE = 0.08
LAST_ARRIVAL = datetime(2025, 6, 30, tzinfo=UTC)
SPAN_DAYS = 730
TIMELINE_DAYS = {"asap": 7.0, "30_days": 30.0, "90_days": 90.0, "6_months": 180.0}
PHONE_LINE_TYPES = ("mobile", "fixed_line", "voip")
# The true signal, in log-odds: what an investor would expect to matter (cf. CONVERSION_MODEL
# of the book generator). Some of it is deliberately not linear (a threshold, a hinge, an
# interaction), as in the business: a model that can bend should beat the linear baseline.
MOTIVATION_EFFECT = {"foreclosure": 1.1, "inherited": 0.9, "tax_problems": 0.8, "curious": -1.4}
SOURCE_EFFECT = {"referral": 0.8, "direct_mail": 0.5, "ppc": -0.5, "list_import": -0.6}
HIGH_EQUITY_RATIO = 0.5  # an investor needs room for a discount: below this, few deals
HIGH_EQUITY_EFFECT = 2.2
TIMELINE_DAYS_EFFECT = -0.006  # per day: asap vs six months is ~1 log-odds
ASKING_PREMIUM_EFFECT = -4.0  # x min(max(asking / value - 1, 0), 1)
DELINQUENT_ABSENTEE_EFFECT = 2.0  # a tax-delinquent owner who lives elsewhere wants out


def _choice(
    rng: np.random.Generator,
    values: tuple[str, ...],
    n: int,
    missing: float,
    p: tuple[float, ...] | None = None,
) -> np.ndarray:
    drawn = rng.choice(np.array(values, dtype=object), size=n, p=p)
    drawn[rng.random(n) < missing] = None
    return drawn


def _with_missing(rng: np.random.Generator, values: np.ndarray, missing: float) -> np.ndarray:
    out = values.astype(np.float64)
    out[rng.random(len(out)) < missing] = np.nan
    return out


def _booleans(rng: np.random.Generator, p_true: float, n: int, missing: float) -> pa.Array:
    values = rng.random(n) < p_true
    return pa.array(values, mask=rng.random(n) < missing)


def _effects(values: np.ndarray, effects: dict[str, float]) -> np.ndarray:
    return np.array([effects.get(value, 0.0) for value in values.tolist()])


def _intercept_for(logit: np.ndarray, rate: float) -> float:
    # Bisection on the intercept so that the expected share of converted leads is ``rate``.
    low, high = -15.0, 15.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logit + middle)))) < rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def synthetic_feature_table(n: int, seed: int, signal: bool = True) -> pa.Table:
    """``n`` leads in the ``lead_training_set`` layout (features + ``is_converted``).

    Arrivals spread over the two years to ``LAST_ARRIVAL``, in arrival order; ~8% convert.
    ``signal=False`` draws the label independently of every feature.
    """
    rng = np.random.default_rng(seed)
    arrival_seconds = np.sort(rng.uniform(0, SPAN_DAYS * 86_400, n))
    first = LAST_ARRIVAL.timestamp() - SPAN_DAYS * 86_400
    received_at = ((first + arrival_seconds) * 1e6).astype("int64")

    estimated_value = np.round(rng.lognormal(np.log(240_000), 0.45, n), -2)
    mortgage = estimated_value * rng.beta(2.0, 2.5, n) * (rng.random(n) > 0.3)
    equity = estimated_value - mortgage
    asking = np.round(estimated_value * rng.lognormal(0.05, 0.25, n), -3)
    county_matched = rng.random(n) < 0.88
    unmatched = ~county_matched
    timeline = _choice(rng, TIMELINES, n, missing=0.08)
    timeline_days = np.array([TIMELINE_DAYS.get(t, np.nan) for t in timeline.tolist()])
    has_email = rng.random(n) < 0.8
    has_phone = rng.random(n) < 0.9
    source = _choice(rng, SOURCES, n, missing=0.0, p=SOURCE_SHARE)
    motivation = _choice(rng, MOTIVATIONS, n, missing=0.25, p=MOTIVATION_SHARE)
    equity_ratio = np.where(unmatched, np.nan, equity / estimated_value)
    tax_delinquent = rng.random(n) < 0.12
    absentee = rng.random(n) < 0.3
    asking_price = _with_missing(rng, asking, 0.35)
    asking_to_value = asking_price / np.where(unmatched, np.nan, estimated_value)
    line_type = _choice(rng, PHONE_LINE_TYPES, n, missing=0.0)
    line_type[~has_phone] = None

    columns: dict[str, np.ndarray | pa.Array] = {
        "source": source,
        "property_type": _choice(rng, PROPERTY_TYPES, n, missing=0.03, p=PROPERTY_TYPE_SHARE),
        "condition": _choice(rng, CONDITIONS, n, missing=0.15),
        "occupancy": _choice(rng, OCCUPANCIES, n, missing=0.2),
        "motivation": motivation,
        "timeline": timeline,
        "timeline_days": timeline_days,
        "asking_price": asking_price,
        "asking_to_value_ratio": asking_to_value,
        "mortgage_balance": _with_missing(rng, np.round(mortgage, -2), 0.1),
        "bedrooms": _with_missing(rng, rng.integers(1, 7, n), 0.1),
        "bathrooms": _with_missing(rng, rng.integers(2, 9, n) / 2, 0.12),
        "square_feet": _with_missing(rng, np.round(rng.lognormal(np.log(1_700), 0.35, n)), 0.15),
        "property_age_years": _with_missing(rng, rng.integers(0, 120, n), 0.15),
        "has_consent_email": _booleans(rng, 0.6, n, missing=0.2),
        "has_consent_sms": _booleans(rng, 0.5, n, missing=0.2),
        "has_email": pa.array(has_email),
        "has_phone": pa.array(has_phone),
        "email_is_valid": pa.array(rng.random(n) < 0.9, mask=~has_email),
        "email_is_disposable": pa.array(rng.random(n) < 0.03, mask=~has_email),
        "email_is_role": pa.array(rng.random(n) < 0.02, mask=~has_email),
        "phone_is_valid": pa.array(rng.random(n) < 0.92, mask=~has_phone),
        "phone_line_type": line_type,
        "is_address_parsed": pa.array(rng.random(n) < 0.95),
        "is_county_matched": pa.array(county_matched),
        "is_owner_of_record": pa.array(rng.random(n) < 0.8, mask=unmatched),
        "owner_match_score": np.where(unmatched, np.nan, np.round(rng.uniform(40, 100, n))),
        "is_absentee_owner": pa.array(absentee, mask=unmatched),
        "estimated_value": np.where(unmatched, np.nan, estimated_value),
        "assessed_value": np.where(unmatched, np.nan, np.round(estimated_value * 0.8, -2)),
        "equity": np.where(unmatched, np.nan, equity),
        "equity_ratio": equity_ratio,
        "years_since_last_sale": np.where(unmatched, np.nan, np.round(rng.exponential(9, n), 2)),
        "is_tax_delinquent": pa.array(tax_delinquent, mask=unmatched),
        "is_in_foreclosure": pa.array(rng.random(n) < 0.04, mask=unmatched),
        "n_prior_leads_same_property": rng.poisson(0.08, n).astype(np.float64),
        "n_prior_leads_same_contact": rng.poisson(0.05, n).astype(np.float64),
    }
    if signal:
        # The truth uses what was drawn, known to us or not: an unmatched property has equity
        # too, the model just cannot see it.
        asking_premium = np.clip(np.nan_to_num(asking / estimated_value - 1, nan=0.0), 0, 1)
        logit = (
            HIGH_EQUITY_EFFECT * (equity / estimated_value >= HIGH_EQUITY_RATIO)
            + TIMELINE_DAYS_EFFECT * np.nan_to_num(timeline_days, nan=120.0)
            + ASKING_PREMIUM_EFFECT * asking_premium * ~np.isnan(asking_price)
            + DELINQUENT_ABSENTEE_EFFECT * (tax_delinquent & absentee)
            + _effects(motivation, MOTIVATION_EFFECT)
            + _effects(source, SOURCE_EFFECT)
        )
        p_convert = 1 / (1 + np.exp(-(logit + _intercept_for(logit, POSITIVE_RATE))))
    else:
        p_convert = np.full(n, POSITIVE_RATE)
    converted = rng.random(n) < p_convert

    schema = lead_feature_schema(label=True)
    arrays: dict[str, pa.Array] = {
        "lead_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "external_id": pa.array([f"SYN-{i:07d}" for i in range(1, n + 1)]),
        "received_at": pa.array(received_at, type=schema.field("received_at").type),
        "received_date": pa.array((received_at // 86_400_000_000).astype("int32"), pa.date32()),
    }
    for feature in FEATURES:
        values = columns[feature.name]
        kind_type = schema.field(feature.name).type
        if isinstance(values, np.ndarray) and values.dtype == np.float64:
            arrays[feature.name] = pa.array(values, type=kind_type, from_pandas=True)  # NaN→null
        else:
            arrays[feature.name] = pa.array(values, type=kind_type)
    arrays[LABEL] = pa.array(converted)
    return pa.Table.from_pydict(arrays, schema=schema)
