"""The offline adapter: real work from the platform's own data, with no model and no network.

It is the default when no assistant is configured, and what the orchestrator falls back on in
development and tests. Deterministic by construction: pure functions of the task's input and
the lead's context (no randomness, no clock; "years since the last sale" counts from the day
the lead arrived), so one task always gets one answer and a test can hold it exactly.

- research → a brief of facts, signals, risks and the next action (``research.py``);
- outreach_draft → a first text or email from templates (``drafts.py``), a follow-up text
  when the lead has had messages already;
- offer_prep → an offer range by the 70 % rule (``offers.py``);
- follow_up → a plan from the stage and the last contact, with a draft when one is due
  (``follow_up.py``).

All of them read the context through ``lead_view.read_lead``, so "which value, which mortgage"
is decided once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from orchestrator.adapters import AdapterAnswer, AdapterCall, AdapterError, summarise_errors
from orchestrator.adapters.drafts import outreach_draft, pick_channel
from orchestrator.adapters.follow_up import follow_up_plan
from orchestrator.adapters.lead_view import LeadView, read_lead
from orchestrator.adapters.offers import NoValue, offer_range
from orchestrator.adapters.research import research_brief


def _outreach(view: LeadView, task_input: dict[str, Any]) -> dict[str, Any]:
    return outreach_draft(view, pick_channel(view, task_input), follow_up=view.messages_sent > 0)


KINDS: dict[str, Callable[[LeadView, dict[str, Any]], dict[str, Any]]] = {
    "research": research_brief,
    "outreach_draft": _outreach,
    "offer_prep": offer_range,
    "follow_up": follow_up_plan,
    # The transaction coordinator's checklist is the follow-up plan of a lead under contract.
    "closing_prep": follow_up_plan,
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
                invalid=True,
            ) from exc
        return AdapterAnswer(request=request, raw=raw, result=result, model="offline")

    async def aclose(self) -> None:
        return None
