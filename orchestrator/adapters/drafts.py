"""Outreach drafts from templates: a first text or email, and the follow-up after silence.

Templates are Jinja2 in the same sandbox as the automation rules (``rules.template_environment``)
over a few plain values, never over the raw context. A text keeps to two SMS segments (320
characters) and ends with the opt-out line; when the full version is longer, the optional
sentences are dropped in order (timeline, then motivation) rather than the text cut mid-word.
"""

from __future__ import annotations

from typing import Any, Literal

from orchestrator.adapters.lead_view import COMPANY, LeadView, words
from orchestrator.rules import template_environment

SMS_LIMIT = 320  # two segments: a third costs more and reads like spam
OPT_OUT = "Reply STOP to opt out."

# One gentle sentence per motivation (hk_core/vocabulary.py MOTIVATIONS): what a cash buyer
# offers that seller; none for the curious, who are put off by pressure.
MOTIVATION_LINES = {
    "foreclosure": "We can close fast, before a sale date.",
    "divorce": "We keep a sale simple for both owners.",
    "inherited": "We buy inherited homes as-is, no clean-out needed.",
    "relocation": "We can close on your moving schedule.",
    "financial_distress": "We pay cash and cover the closing costs.",
    "tired_landlord": "We buy rentals with tenants in place.",
    "repairs": "We buy as-is: no repairs, no cleaning.",
    "downsizing": "We can close when your next home is ready.",
    "tax_problems": "Back taxes can be settled at closing.",
}
TIMELINE_LINES = {
    "asap": "We can close in as little as 7 days.",
    "30_days": "Closing within 30 days works for us.",
    "90_days": "We can close on your timeline over the next few months.",
}

_ENV = template_environment()
_SMS_FIRST = _ENV.from_string(
    "Hi {{ name }}, this is {{ company }} about {{ street }}. "
    "We'd like to make you a fair cash offer.{% for line in extra %} {{ line }}{% endfor %} "
    "Is now a good time to talk? {{ opt_out }}"
)
_SMS_FOLLOW_UP = _ENV.from_string(
    "Hi {{ name }}, {{ company }} again about {{ street }}. "
    "Still thinking about selling?{% for line in extra %} {{ line }}{% endfor %} "
    "A quick call is all it takes to get a number. {{ opt_out }}"
)
_EMAIL_SUBJECT = _ENV.from_string("A cash offer for {{ street }}")
_EMAIL_BODY = _ENV.from_string(
    """Hi {{ name }},

Thank you for telling us about {{ place }}{% if building %} ({{ building }}){% endif %}. \
{{ company }} buys houses for cash, as-is, and we would like to make you a fair offer.
{% for line in extra %}
{{ line }}{% endfor %}

{% if follow_up %}We have not heard back yet, and the offer still stands. {% endif %}\
Reply to this email or tell us a good time to call, and we will walk you through the numbers.

Best regards,
{{ company }}

If you would rather not hear from us, reply "unsubscribe" and we will stop."""
)


def pick_channel(view: LeadView, task_input: dict[str, Any]) -> Literal["sms", "email"]:
    asked = task_input.get("channel")
    if asked in ("sms", "email"):
        return asked  # type: ignore[no-any-return]
    return "sms" if view.consent_sms else "email"


def _building(view: LeadView) -> str:
    parts = []
    if view.bedrooms is not None:
        parts.append(f"{view.bedrooms} bed")
    if view.bathrooms is not None:
        parts.append(f"{view.bathrooms:g} bath")
    if view.property_type:
        parts.append(words(view.property_type))
    return ", ".join(parts)


def outreach_draft(
    view: LeadView, channel: Literal["sms", "email"], *, follow_up: bool = False
) -> dict[str, Any]:
    """A draft for ``channel``; ``follow_up`` for a lead that has not answered a first touch."""
    extra = [
        line
        for line in (
            MOTIVATION_LINES.get(view.motivation or ""),
            TIMELINE_LINES.get(view.timeline or ""),
        )
        if line
    ]
    values = {
        "name": view.first_name or "there",
        "company": COMPANY,
        "street": view.street or "your property",
        "place": view.place,
        "building": _building(view),
        "opt_out": OPT_OUT,
        "follow_up": follow_up,
    }
    if channel == "email":
        return {
            "channel": "email",
            "subject": _EMAIL_SUBJECT.render(values),
            "body": _EMAIL_BODY.render(values, extra=extra),
        }
    template = _SMS_FOLLOW_UP if follow_up else _SMS_FIRST
    # Drop the timeline line, then the motivation line, until the text fits.
    for keep in range(len(extra), -1, -1):
        body = template.render(values, extra=extra[:keep])
        if len(body) <= SMS_LIMIT:
            break
    else:
        body = template.render(values | {"street": "your property", "name": "there"}, extra=[])
    return {"channel": "sms", "subject": None, "body": body}
