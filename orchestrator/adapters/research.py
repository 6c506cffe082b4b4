"""The research brief: what the platform knows about a lead and its house, in a page.

Building facts, the value and equity as ``lead_view`` reads them, the signs that the seller
wants to sell soon, what is missing or worrying, the model's score with its reasons, and the
next action by score band. Pure: a function of the lead's context and nothing else.
"""

from __future__ import annotations

from typing import Any

from orchestrator.adapters.lead_view import LeadView, dollars, words

# Score bands → the next action (the model's score is a probability of a deal).
CALL_NOW_SCORE = 0.7
OUTREACH_SCORE = 0.4
THIN_EQUITY_RATIO = 0.15  # below this a cash offer rarely clears the mortgage
HIGH_EQUITY_RATIO = 0.5
ASKING_ABOVE_VALUE_RATIO = 1.1
LONG_HELD_YEARS = 10  # long-held houses carry little debt and often deferred repairs
POOR_CONDITIONS = ("poor", "distressed")
TIMELINE_SIGNALS = {
    "asap": "Wants to sell as soon as possible.",
    "30_days": "Wants to sell within 30 days.",
    "90_days": "Wants to sell within 90 days.",
}


def research_brief(view: LeadView, _input: dict[str, Any]) -> dict[str, Any]:
    facts: list[str] = [f"Property: {view.place}."]
    building = [
        f"{view.bedrooms} bd" if view.bedrooms is not None else None,
        f"{view.bathrooms:g} ba" if view.bathrooms is not None else None,
        f"{view.square_feet:,} sq ft" if view.square_feet else None,
        f"built {view.year_built}" if view.year_built else None,
    ]
    if any(building):
        facts.append(", ".join(b for b in building if b) + ".")
    if view.property_type:
        facts.append(f"Type: {words(view.property_type)}.")
    if view.condition:
        facts.append(f"Condition (seller): {words(view.condition)}.")
    if view.occupancy:
        facts.append(f"Occupancy: {words(view.occupancy)}.")
    if view.asking_price is not None:
        facts.append(f"Asking price: {dollars(view.asking_price)}.")
    if view.value is not None:
        facts.append(f"Estimated value: {dollars(view.value)} ({view.value_source}).")
    if view.mortgage_balance is not None:
        facts.append(f"Mortgage: {dollars(view.mortgage_balance)} ({view.mortgage_source}).")
    equity = view.equity
    if equity is not None:
        facts.append(f"Equity: about {dollars(equity)}.")
    if view.last_sale_date is not None:
        price = f" for {dollars(view.last_sale_price)}" if view.last_sale_price else ""
        facts.append(f"Last sold {view.last_sale_date.isoformat()}{price}.")

    signals: list[str] = []
    if view.motivation and view.motivation not in ("curious", "other"):
        signals.append(f"Motivation: {words(view.motivation)}.")
    if view.timeline in TIMELINE_SIGNALS:
        signals.append(TIMELINE_SIGNALS[view.timeline])
    if view.condition in POOR_CONDITIONS:
        signals.append(f"Condition {view.condition}: a retail sale would need repairs first.")
    if view.occupancy == "vacant":
        signals.append("Vacant: carrying costs with no one living there.")
    if view.occupancy == "tenant_occupied":
        signals.append("Tenant-occupied: a landlord may want out.")
    if view.is_absentee_owner:
        signals.append("Absentee owner: the owner's mailing address is elsewhere.")
    if view.tax_delinquent:
        signals.append("Property taxes are delinquent.")
    if view.in_foreclosure:
        signals.append("The property is in foreclosure.")
    if view.last_sale_date is not None and view.received is not None:
        held = (view.received - view.last_sale_date).days // 365
        if held >= LONG_HELD_YEARS:
            signals.append(f"Owned for {held} years since the last sale.")
    if equity is not None and view.value and equity / view.value >= HIGH_EQUITY_RATIO:
        signals.append(f"High equity: {equity * 100 // view.value}% of value.")

    risks: list[str] = []
    if not view.has_property_record:
        risks.append("No county or vendor record: building facts are the seller's own.")
    if view.value is None:
        risks.append("No value estimate and no asking price.")
    elif view.value_source == "asking price":
        risks.append("Value rests on the asking price alone.")
    if view.mortgage_balance is None:
        risks.append("Mortgage balance unknown: equity cannot be estimated.")
    elif equity is not None and view.value:
        if equity < 0:
            risks.append(f"Underwater: the mortgage exceeds the value by {dollars(-equity)}.")
        elif equity / view.value < THIN_EQUITY_RATIO:
            risks.append(f"Thin equity: {equity * 100 // view.value}% of value.")
    if (
        view.asking_price is not None
        and view.value
        and view.value_source != "asking price"
        and view.asking_price > view.value * ASKING_ABOVE_VALUE_RATIO
    ):
        over = (view.asking_price - view.value) * 100 // view.value
        risks.append(f"Asking price is {over}% above the estimated value.")
    if view.is_owner_of_record is False:
        risks.append("The seller's name does not match the owner of record.")
    if view.score is None:
        risks.append("Not scored yet.")
    if view.opted_out:
        risks.append("The seller opted out: no marketing messages.")

    next_action = _next_action(view)
    who = view.first_name or "The seller"
    why = f" ({words(view.motivation)})" if view.motivation else ""
    summary = f"{who} may sell {view.place}{why}."
    if view.value is not None:
        summary += f" Estimated value {dollars(view.value)}"
        summary += f", equity about {dollars(equity)}." if equity is not None else "."
    if view.score is not None:
        summary += f" Score {view.score:.2f}."
    summary += f" Next: {next_action}."
    return {
        "summary": summary,
        "facts": facts,
        "motivation_signals": signals,
        "risks": risks,
        "estimated_value": view.value,
        "equity": equity,
        "score": view.score,
        "score_reasons": view.score_reasons,
        "recommended_next": next_action,
    }


def _next_action(view: LeadView) -> str:
    if view.opted_out:
        return "do not contact; close the lead"
    if view.score is None:
        return "draft outreach" if view.consent_sms or view.consent_email else "review by hand"
    if view.score >= CALL_NOW_SCORE:
        return "call within 24 h"
    if view.score >= OUTREACH_SCORE:
        return "draft outreach"
    return "nurture: monthly follow-up"
