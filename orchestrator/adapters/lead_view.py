"""One reading of ``lead_context`` shared by the offline adapter's kinds: which value, which
mortgage, which building facts to believe, and how sure to be.

The precedence follows the enrichment (hk_core/enrichment/enrich.py): the county's or vendor's
building facts over what the seller typed, the seller's own mortgage figure over the roll's
estimate (the roll guesses from recorded loans; the seller knows the balance), and a market
estimate over the assessed value (assessors lag the market) over the asking price (the
seller's hope, not a value).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

COMPANY = "Hidden Key Investments"  # the same sender name as orchestrator/rules.py's templates


@dataclass(frozen=True)
class LeadView:
    first_name: str | None
    street: str | None
    city: str | None
    state: str | None
    property_type: str | None
    bedrooms: int | None
    bathrooms: float | None
    square_feet: int | None
    year_built: int | None
    condition: str | None
    occupancy: str | None
    motivation: str | None
    timeline: str | None
    asking_price: int | None
    mortgage_balance: int | None
    mortgage_source: str | None  # "seller" or "county estimate"
    value: int | None
    value_source: str | None  # "market estimate", "assessed value" or "asking price"
    last_sale_date: date | None
    last_sale_price: int | None
    tax_delinquent: bool | None
    in_foreclosure: bool | None
    is_absentee_owner: bool | None
    is_owner_of_record: bool | None
    has_property_record: bool
    received: date | None
    consent_sms: bool
    consent_email: bool
    score: float | None
    score_reasons: list[str]
    stage: str
    stage_since: str | None
    messages_sent: int
    last_sent_at: str | None
    replies: int
    last_reply_at: str | None
    opted_out: bool

    @property
    def equity(self) -> int | None:
        if self.value is None or self.mortgage_balance is None:
            return None
        return self.value - self.mortgage_balance

    @property
    def place(self) -> str:
        """'12 Oak St, Austin, TX', or as much of it as is known."""
        parts = [p for p in (self.street, self.city, self.state) if p]
        return ", ".join(parts) if parts else "the property"


def _date(text: Any) -> date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return None if value is None else round(float(value))


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None and v != ""), None)


def read_lead(context: dict[str, Any], task_input: dict[str, Any]) -> LeadView:
    """The view of ``context`` (a ``lead_context`` dict, or {}); a task without a lead may
    carry the same parts in its input (``input["lead"]``, ``input["property"]``)."""
    lead = context.get("lead") or task_input.get("lead") or {}
    prop = context.get("property") or task_input.get("property") or {}
    enrichment = context.get("enrichment") or {}
    score = context.get("score") or {}
    contact = context.get("contact") or {}
    market = _int(prop.get("estimated_value"))
    assessed = _int(prop.get("assessed_value"))
    asking = _int(lead.get("asking_price"))
    value, value_source = next(
        ((v, source) for v, source in ((market, "market estimate"), (assessed, "assessed value"),
                                       (asking, "asking price")) if v is not None),
        (None, None),
    )  # fmt: skip
    seller_debt, roll_debt = (
        _int(lead.get("mortgage_balance")),
        _int(prop.get("mortgage_balance_estimate")),
    )
    mortgage_source = "seller" if seller_debt is not None else "county estimate"
    return LeadView(
        first_name=_first(lead.get("first_name")),
        street=_first(lead.get("property_street"), prop.get("street")),
        city=_first(lead.get("property_city"), prop.get("city")),
        state=_first(lead.get("property_state"), prop.get("state")),
        property_type=_first(prop.get("property_type"), lead.get("property_type")),
        bedrooms=_int(_first(prop.get("bedrooms"), lead.get("bedrooms"))),
        bathrooms=_first(prop.get("bathrooms"), lead.get("bathrooms")),
        square_feet=_int(_first(prop.get("square_feet"), lead.get("square_feet"))),
        year_built=_int(_first(prop.get("year_built"), lead.get("year_built"))),
        condition=_first(lead.get("condition")),
        occupancy=_first(lead.get("occupancy")),
        motivation=_first(lead.get("motivation")),
        timeline=_first(lead.get("timeline")),
        asking_price=asking,
        mortgage_balance=_first(seller_debt, roll_debt),
        mortgage_source=mortgage_source if _first(seller_debt, roll_debt) is not None else None,
        value=value,
        value_source=value_source,
        last_sale_date=_date(prop.get("last_sale_date")),
        last_sale_price=_int(prop.get("last_sale_price")),
        tax_delinquent=prop.get("tax_delinquent"),
        in_foreclosure=prop.get("in_foreclosure"),
        is_absentee_owner=_first(
            enrichment.get("is_absentee_owner"), prop.get("is_absentee_owner")
        ),
        is_owner_of_record=enrichment.get("is_owner_of_record"),
        has_property_record=bool(prop),
        received=_date(lead.get("received_at")),
        consent_sms=bool(lead.get("consent_sms")),
        consent_email=bool(lead.get("consent_email")),
        score=score.get("score"),
        score_reasons=[r["text"] for r in score.get("reasons") or [] if r.get("text")],
        stage=context.get("stage") or "new",
        stage_since=context.get("stage_since"),
        messages_sent=int(contact.get("messages_sent") or 0),
        last_sent_at=contact.get("last_sent_at"),
        replies=int(contact.get("replies") or 0),
        last_reply_at=contact.get("last_reply_at"),
        opted_out=bool(contact.get("opted_out")),
    )


def dollars(amount: int) -> str:
    return f"-${-amount:,}" if amount < 0 else f"${amount:,}"


def words(code: str | None) -> str:
    """A vocabulary code as words: 'tired_landlord' → 'tired landlord'."""
    return (code or "").replace("_", " ")
