"""What an assistant's answer must be, per task kind: pydantic models that every adapter's
answer is validated through before the task may move on.

An answer that does not validate is a failed attempt (the worker keeps the reason), so the rules
that matter to a seller live here and not in a prompt: an SMS carries its opt-out line, an
email has a subject, an offer's recommended figure lies inside its own range. Money is whole
dollars as ``int``: exact, and JSON-safe without a float's rounding. The same models give the
JSON schema an OpenAI-compatible assistant is asked to answer in (``openai_compat.py``), so
each field's description is also the instruction the model reads. Unknown figures default to
None, so a person entering a result by hand leaves them out; the schema sent to a model still
requires every field (strict mode), null allowed where None is.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Twilio's own ceiling for one message body (ten segments); an email body is held to it too,
# because a longer first touch is not read.
MAX_BODY_CHARS = 1600
MAX_MONEY = 1_000_000_000  # a figure beyond this is a unit mistake (cents), not a house
# STOP is the carrier-recognised opt-out keyword (CTIA); a draft without it cannot be sent.
_STOP = re.compile(r"\bSTOP\b")

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Money = Annotated[int, Field(ge=0, le=MAX_MONEY)]


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResearchBrief(_Result):
    summary: str = Field(
        min_length=1, max_length=2000, description="Two or three sentences on the lead and why."
    )
    facts: list[ShortText] = Field(
        default_factory=list, max_length=30, description="Short property and lead facts."
    )
    motivation_signals: list[ShortText] = Field(
        default_factory=list, max_length=20, description="Signs the seller wants to sell soon."
    )
    risks: list[ShortText] = Field(
        default_factory=list, max_length=20, description="Missing data and reasons for caution."
    )
    estimated_value: Money | None = Field(
        default=None, description="Estimated market value, whole dollars."
    )
    equity: int | None = Field(
        default=None,
        ge=-MAX_MONEY,
        le=MAX_MONEY,
        description="Estimated value minus mortgage balance, whole dollars (may be negative).",
    )
    score: float | None = Field(
        default=None, ge=0, le=1, description="The lead's latest model score, 0 to 1."
    )
    score_reasons: list[ShortText] = Field(
        default_factory=list, max_length=10, description="Why the model scored the lead so."
    )
    recommended_next: ShortText = Field(
        description='The next action, e.g. "call within 24 h" or "draft outreach".'
    )


class OutreachDraft(_Result):
    channel: Literal["sms", "email"] = Field(description="The channel the draft is written for.")
    subject: str | None = Field(
        default=None,
        max_length=200,
        description="Email subject line; required for email, null for SMS.",
    )
    body: str = Field(
        min_length=1,
        max_length=MAX_BODY_CHARS,
        description='The message text. An SMS must include "Reply STOP to opt out."',
    )

    @model_validator(mode="after")
    def _channel_rules(self) -> OutreachDraft:
        if self.channel == "email" and not (self.subject and self.subject.strip()):
            raise ValueError("subject: an email draft needs a subject")
        if self.channel == "sms":
            if self.subject is not None:
                raise ValueError("subject: an SMS draft has no subject (null)")
            if not _STOP.search(self.body):
                raise ValueError('body: an SMS must tell how to opt out ("Reply STOP to opt out")')
        return self


class OfferRange(_Result):
    estimated_value: Money = Field(description="After-repair (or current) value, whole dollars.")
    repair_estimate: Money = Field(description="Estimated repair cost, whole dollars.")
    low: Money = Field(description="Lowest offer, whole dollars.")
    high: Money = Field(description="Highest offer, whole dollars.")
    recommended: Money = Field(description="The offer to open with, between low and high.")
    asking_price: Money | None = Field(
        default=None, description="The seller's asking price, if known."
    )
    mortgage_balance: Money | None = Field(
        default=None, description="Mortgage balance owed, if known."
    )
    equity: int | None = Field(
        default=None,
        ge=-MAX_MONEY,
        le=MAX_MONEY,
        description="Value minus mortgage balance, if known.",
    )
    basis: list[ShortText] = Field(
        min_length=1, max_length=20, description="How each number was reached, one line each."
    )
    confidence: Literal["low", "medium", "high"] = Field(
        description="How much of the figures rest on data rather than assumptions."
    )

    @model_validator(mode="after")
    def _ordered(self) -> OfferRange:
        if not self.low <= self.recommended <= self.high:
            raise ValueError(
                f"recommended: must lie between low and high "
                f"(low {self.low}, recommended {self.recommended}, high {self.high})"
            )
        return self


class FollowUpAction(_Result):
    when: ShortText = Field(description='When to act, e.g. "today", "in 3 days".')
    action: ShortText = Field(description="What to do.")


class FollowUpPlan(_Result):
    summary: str = Field(
        min_length=1, max_length=2000, description="Where the lead stands and the aim."
    )
    actions: list[FollowUpAction] = Field(
        min_length=1, max_length=10, description="The next steps, soonest first."
    )
    draft: OutreachDraft | None = Field(
        default=None, description="A message to send with the first step."
    )


RESULTS: dict[str, type[BaseModel]] = {
    "research_brief": ResearchBrief,
    "outreach_draft": OutreachDraft,
    "offer_range": OfferRange,
    "follow_up": FollowUpPlan,
}
