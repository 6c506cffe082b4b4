"""A wholesaler's offer range: 70 % of the value less repairs, the classic maximum allowable
offer, so a buyer who pays it can still fix the house and resell at a profit.

Repairs are priced per square foot by the seller's stated condition (the table below, a
rehab rule of thumb, not a contractor's bid); without a condition or floor area an assumption
is made and said so, and confidence drops. Figures are whole dollars, rounded down to $500
so an offer reads like one a person would make.
"""

from __future__ import annotations

from typing import Any

from orchestrator.adapters.lead_view import LeadView, dollars

MAX_OFFER_SHARE = 70  # percent of value: the 70 % rule
LOW_SHARE = 90  # the low end is this percent of the maximum allowable offer
ROUND_TO = 500
# Repair cost per square foot by condition (hk_core/vocabulary.py CONDITIONS).
REPAIR_PER_SQFT = {"excellent": 0, "good": 5, "fair": 15, "poor": 35, "distressed": 60}
UNKNOWN_CONDITION_PER_SQFT = (
    20  # between fair and poor: a seller who does not say seldom means good
)
ASSUMED_SQUARE_FEET = 1500  # a typical single-family house, when neither roll nor seller says


class NoValue(Exception):
    """Nothing to base an offer on: no value estimate and no asking price."""


def _down(amount: int) -> int:
    return max(0, amount - amount % ROUND_TO)


def offer_range(view: LeadView, task_input: dict[str, Any]) -> dict[str, Any]:
    if view.value is None:
        raise NoValue("no value estimate and no asking price: nothing to base an offer on")
    value = view.value
    basis = [f"Value {dollars(value)}: the {view.value_source}."]
    known = 0  # how many of value, floor area, condition and mortgage rest on data
    if view.value_source != "asking price":
        known += 1
    else:
        basis.append("No market or assessed value: the asking price stands in for the value.")

    square_feet = view.square_feet
    if square_feet:
        known += 1
    else:
        square_feet = ASSUMED_SQUARE_FEET
    condition = view.condition if view.condition in REPAIR_PER_SQFT else None
    rate = REPAIR_PER_SQFT[condition] if condition else UNKNOWN_CONDITION_PER_SQFT
    if condition:
        known += 1
    override = task_input.get("repair_estimate")
    if isinstance(override, int | float) and override >= 0:
        repairs = round(override)
        basis.append(f"Repairs {dollars(repairs)}: the estimate given with the task.")
    else:
        repairs = rate * square_feet
        basis.append(
            f"Repairs {dollars(repairs)}: {square_feet:,} sq ft"
            f"{'' if view.square_feet else ' (assumed)'} × ${rate}/sq ft for "
            f"{'condition ' + condition if condition else 'an unknown condition (assumed)'}."
        )

    top = value * MAX_OFFER_SHARE // 100 - repairs
    high = _down(top)
    low = _down(high * LOW_SHARE // 100)
    recommended = _down((low + high) // 2)
    basis.append(
        f"High {dollars(high)}: {MAX_OFFER_SHARE}% of value ({dollars(value * MAX_OFFER_SHARE // 100)})"
        f" less repairs, rounded down to ${ROUND_TO}."
    )
    if top <= 0:
        basis.append("Repairs exceed 70% of the value: no cash offer works at this value.")
    basis.append(f"Low {dollars(low)}: {LOW_SHARE}% of the high, rounded down to ${ROUND_TO}.")
    basis.append(f"Recommended {dollars(recommended)}: midway, to leave room to negotiate.")
    asking = view.asking_price
    if asking is not None and asking < high:
        high, recommended, low = asking, min(recommended, asking), min(low, asking)
        basis.append(f"Capped at the asking price {dollars(asking)}: never offer more than asked.")

    mortgage = view.mortgage_balance
    equity = view.equity
    if mortgage is not None:
        known += 1
        basis.append(f"Mortgage {dollars(mortgage)} ({view.mortgage_source}).")
        if mortgage > high:
            basis.append(
                "The mortgage exceeds the high offer: a cash sale does not pay it off; "
                "consider subject-to or a short sale."
            )
    confidence = "high" if known == 4 else "medium" if known >= 2 else "low"
    if view.value_source == "asking price":
        confidence = "low"
    return {
        "estimated_value": value,
        "repair_estimate": repairs,
        "low": low,
        "high": high,
        "recommended": recommended,
        "asking_price": asking,
        "mortgage_balance": mortgage,
        "equity": equity,
        "basis": basis,
        "confidence": confidence,
    }
