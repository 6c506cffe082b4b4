"""The offline adapter: real work from the platform's own data, with no model and no network.

It is the default when no assistant is configured, and what the orchestrator falls back on in
development and tests. Deterministic by construction: pure functions of the task's input and
the lead's context (no randomness, no clock; "years since the last sale" counts from the day
the lead arrived), so one task always gets one answer and a test can hold it exactly.

- research → a brief: building facts, value and equity, motivation signals, risks, the score
  and its reasons, and a next action by score band;
- outreach_draft → a first text or email from templates (``drafts.py``);
- offer_prep → an offer range by the 70 % rule (``offers.py``);
- follow_up → a plan from the stage and the last contact, with a draft when one is due.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from orchestrator.adapters import AdapterAnswer, AdapterCall, AdapterError, summarise_errors
from orchestrator.adapters.drafts import outreach_draft, pick_channel
from orchestrator.adapters.lead_view import LeadView, dollars, read_lead, words
from orchestrator.adapters.offers import NoValue, offer_range

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


def _research(view: LeadView, _input: dict[str, Any]) -> dict[str, Any]:
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


def _outreach(view: LeadView, task_input: dict[str, Any]) -> dict[str, Any]:
    return outreach_draft(view, pick_channel(view, task_input), follow_up=view.messages_sent > 0)


def _follow_up(view: LeadView, task_input: dict[str, Any]) -> dict[str, Any]:
    last = f"last message sent {view.last_sent_at[:10]}" if view.last_sent_at else "no message sent"
    replies = f"{view.replies} repl{'y' if view.replies == 1 else 'ies'}"
    situation = f"Stage {words(view.stage)}; {last}; {replies}."
    channel = pick_channel(view, task_input) if view.consent_sms or view.consent_email else None
    draft = None
    if view.opted_out:
        return {
            "summary": f"{situation} The seller opted out.",
            "actions": [{"when": "now", "action": "Do not contact; close the task."}],
            "draft": None,
        }
    plan = _STAGE_PLANS.get(view.stage, _STAGE_PLANS["new"])
    actions, aim, wants_draft = plan(view)
    if wants_draft and channel is not None:
        draft = outreach_draft(view, channel, follow_up=view.messages_sent > 0)
    return {"summary": f"{situation} {aim}", "actions": actions, "draft": draft}


Plan = tuple[list[dict[str, str]], str, bool]


def _plan_new(view: LeadView) -> Plan:
    if view.messages_sent == 0:
        return (
            [{"when": "today", "action": "Call the seller."},
             {"when": "today", "action": "Send the first message if the call is not answered."}],
            "Aim: a first conversation.",
            True,
        )  # fmt: skip
    return _plan_contacted(view)


def _plan_contacted(view: LeadView) -> Plan:
    if view.replies > 0:
        return (
            [{"when": "today", "action": "Call back: confirm motivation, timeline and condition."},
             {"when": "after the call", "action": "Move to qualified or closed lost."}],
            "Aim: qualify the seller who answered.",
            False,
        )  # fmt: skip
    return (
        [{"when": "in 2 days", "action": "Send the follow-up message."},
         {"when": "in 4 days", "action": "Call once more."},
         {"when": "in 14 days", "action": "Move to monthly nurture if still silent."}],
        "Aim: a reply.",
        True,
    )  # fmt: skip


def _plan_qualified(view: LeadView) -> Plan:
    return (
        [{"when": "today", "action": "Book a walk-through of the property."},
         {"when": "before the visit", "action": "Prepare the offer range."}],
        "Aim: an appointment.",
        False,
    )  # fmt: skip


def _plan_appointment(view: LeadView) -> Plan:
    return (
        [{"when": "the day before", "action": "Confirm the appointment."},
         {"when": "at the visit", "action": "Check condition and bring the offer range."}],
        "Aim: an offer at the visit.",
        False,
    )  # fmt: skip


def _plan_offer_made(view: LeadView) -> Plan:
    return (
        [{"when": "in 2 days", "action": "Ask for a decision on the offer."},
         {"when": "in 5 days", "action": "Address objections; revise within the range."}],
        "Aim: a signed contract.",
        True,
    )  # fmt: skip


def _plan_under_contract(view: LeadView) -> Plan:
    return (
        [{"when": "this week", "action": "Open title and schedule the closing."}],
        "Aim: closing.",
        False,
    )


def _plan_closed_won(view: LeadView) -> Plan:
    return (
        [{"when": "after closing", "action": "Ask for a referral and a review."}],
        "Closed: keep the relationship.",
        False,
    )


def _plan_closed_lost(view: LeadView) -> Plan:
    return (
        [{"when": "in 90 days", "action": "Check back: situations change."}],
        "Lost for now.",
        False,
    )


_STAGE_PLANS: dict[str, Callable[[LeadView], Plan]] = {
    "new": _plan_new,
    "contacted": _plan_contacted,
    "qualified": _plan_qualified,
    "appointment_set": _plan_appointment,
    "offer_made": _plan_offer_made,
    "under_contract": _plan_under_contract,
    "closed_won": _plan_closed_won,
    "closed_lost": _plan_closed_lost,
}
KINDS: dict[str, Callable[[LeadView, dict[str, Any]], dict[str, Any]]] = {
    "research": _research,
    "outreach_draft": _outreach,
    "offer_prep": offer_range,
    "follow_up": _follow_up,
}


class OfflineAdapter:
    name = "offline"

    async def run(self, call: AdapterCall) -> AdapterAnswer:
        request = {"adapter": "offline", "kind": call.kind, "input": call.input,
                   "context": call.context}  # fmt: skip
        work = KINDS.get(call.kind)
        if work is None:
            raise AdapterError(
                f"offline: no work for task kind {call.kind!r} (known: {', '.join(KINDS)})",
                transient=False,
                request=request,
            )
        try:
            produced = work(read_lead(call.context, call.input), call.input)
        except NoValue as exc:
            raise AdapterError(f"offline: {exc}", transient=False, request=request) from exc
        raw = json.dumps(produced)
        try:
            result = call.result_model.model_validate(produced).model_dump(mode="json")
        except ValidationError as exc:
            # Same input, same output: a retry would fail the same way.
            raise AdapterError(
                f"offline: the {call.kind} answer does not fit {call.result_model.__name__}: "
                f"{summarise_errors(exc)}",
                transient=False,
                request=request,
                raw=raw,
            ) from exc
        return AdapterAnswer(request=request, raw=raw, result=result, model="offline")

    async def aclose(self) -> None:
        return None
