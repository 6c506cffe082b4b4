"""The follow-up plan: the next steps for a lead from its stage and its last contact.

One plan per funnel stage (orchestrator/funnel.py STAGES); a seller who opted out gets none
but "do not contact". A draft comes with the plan when the next step is a message and the
seller consented to a channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.adapters.drafts import outreach_draft, pick_channel
from orchestrator.adapters.lead_view import LeadView, words


def follow_up_plan(view: LeadView, task_input: dict[str, Any]) -> dict[str, Any]:
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
