"""What an assistant may see about a lead: one JSON-safe dict, read in one or two queries.

PII rule (docs/architecture.md, "PII"): an assistant needs to know the house and the seller's
situation, never how to reach the seller. So the lead's phone, email, last name and free-text
notes (which sellers fill with contact details) are left out, as are the county roll's owner
name and mailing address; the first name and the property's street stay, because a draft is
addressed with them. The dict is stored with the task (the task row may hold what operations
needs) and must never be logged.

Where the parts come from:

- ``lead``: app.leads;
- ``property``: the county record (app.property_records) of the parcel the enrichment matched
  (raw.enriched_leads.apn); failing that, the newest provider answer cached for the lead's
  address key (app.enrichment_cache), which also covers vendor data;
- ``enrichment``: the derived signals of raw.enriched_leads (owner of record, absentee, equity);
- ``score``: ml.lead_scores, whose reason codes already carry their words (``text``), written
  by the batch with ``ml.reasons``, so nothing here needs Arrow;
- ``stage``: the latest app.stage_events row, "new" when there is none;
- ``contact``: counts of the lead's messages and replies.

A missing part is None (or zero counts), never an error; only an unknown lead raises.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hk_core.address import standardize

# Money leaves the database as whole dollars (bigint): exact, and JSON-safe.
_LEAD_SQL = """
select
    l.lead_id, l.source, l.received_at, l.intake_channel, l.first_name,
    l.property_street, l.property_city, l.property_state, l.property_zip,
    l.property_type, l.bedrooms, l.bathrooms, l.square_feet, l.year_built,
    round(l.asking_price)::bigint as asking_price,
    round(l.mortgage_balance)::bigint as mortgage_balance,
    l.condition, l.occupancy, l.motivation, l.timeline, l.consent_email, l.consent_sms,
    e.lead_id is not null as has_enrichment, e.address_key as e_address_key,
    e.is_owner_of_record as e_is_owner_of_record, e.owner_match_score as e_owner_match_score,
    e.is_absentee_owner as e_is_absentee_owner, round(e.equity)::bigint as e_equity,
    e.equity_ratio as e_equity_ratio, e.enrichment_provider as e_enrichment_provider,
    e.enriched_at as e_enriched_at,
    p.apn as p_apn, p.street as p_street, p.city as p_city, p.state as p_state, p.zip as p_zip,
    p.property_type as p_property_type, p.bedrooms as p_bedrooms, p.bathrooms as p_bathrooms,
    p.square_feet as p_square_feet, p.year_built as p_year_built,
    round(p.assessed_value)::bigint as p_assessed_value,
    round(p.estimated_value)::bigint as p_estimated_value,
    p.last_sale_date as p_last_sale_date,
    round(p.last_sale_price)::bigint as p_last_sale_price,
    round(p.mortgage_balance_estimate)::bigint as p_mortgage_balance_estimate,
    p.tax_delinquent as p_tax_delinquent, p.in_foreclosure as p_in_foreclosure,
    s.score as s_score, s.model_name as s_model_name, s.model_version as s_model_version,
    s.reason_codes as s_reason_codes, s.scored_at as s_scored_at,
    st.stage, st.occurred_at as stage_since,
    m.n_messages, m.n_sent, m.last_sent_at,
    r.n_replies, r.last_reply_at, r.opted_out
from app.leads as l
left join raw.enriched_leads as e on e.lead_id = l.lead_id
left join app.property_records as p on p.apn = e.apn
left join ml.lead_scores as s on s.lead_id = l.lead_id
left join lateral (
    select se.stage, se.occurred_at from app.stage_events as se
    where se.lead_id = l.lead_id
    order by se.occurred_at desc, se.event_id desc
    limit 1
) as st on true
cross join lateral (
    select count(*) as n_messages, count(mm.sent_at) as n_sent, max(mm.sent_at) as last_sent_at
    from app.messages as mm where mm.lead_id = l.lead_id
) as m
cross join lateral (
    select count(*) filter (where ev.kind = 'reply') as n_replies,
        max(ev.occurred_at) filter (where ev.kind = 'reply') as last_reply_at,
        bool_or(ev.kind = 'opt_out') is true as opted_out
    from app.automation_events as ev
    where ev.lead_id = l.lead_id and ev.kind in ('reply', 'opt_out')
) as r
where l.lead_id = %s
"""
_CACHED_FACTS_SQL = """
select provider, facts from app.enrichment_cache
where address_key = %s and facts is not null
order by fetched_at desc, provider
limit 1
"""
_LEAD_KEYS = (
    "lead_id", "source", "received_at", "intake_channel", "first_name", "property_street",
    "property_city", "property_state", "property_zip", "property_type", "bedrooms", "bathrooms",
    "square_feet", "year_built", "asking_price", "mortgage_balance", "condition", "occupancy",
    "motivation", "timeline", "consent_email", "consent_sms",
)  # fmt: skip
_PROPERTY_KEYS = (
    "apn", "street", "city", "state", "zip", "property_type", "bedrooms", "bathrooms",
    "square_feet", "year_built", "assessed_value", "estimated_value", "last_sale_date",
    "last_sale_price", "mortgage_balance_estimate", "tax_delinquent", "in_foreclosure",
)  # fmt: skip
_ENRICHMENT_KEYS = (
    "is_owner_of_record", "owner_match_score", "is_absentee_owner", "equity", "equity_ratio",
    "enrichment_provider", "enriched_at",
)  # fmt: skip
_CACHED_MONEY = ("assessed_value", "estimated_value", "last_sale_price",
                 "mortgage_balance_estimate")  # fmt: skip


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _whole_dollars(value: Any) -> int | None:
    return None if value is None else round(float(value))


async def lead_context(conn: psycopg.AsyncConnection[Any], lead_id: int) -> dict[str, Any]:
    """The lead as an assistant may see it (see the module docstring for what is left out).

    Raises LookupError when there is no such lead."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LEAD_SQL, (lead_id,))
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"lead {lead_id} does not exist")
        property_ = _county_property(row)
        if property_ is None:
            key = row["e_address_key"] or _address_key(row)
            if key is not None:
                await cur.execute(_CACHED_FACTS_SQL, (key,))
                cached = await cur.fetchone()
                if cached is not None:
                    property_ = _cached_property(cached["provider"], cached["facts"])
    return {
        "lead": {k: _json(row[k]) for k in _LEAD_KEYS},
        "property": property_,
        "enrichment": (
            {k: _json(row[f"e_{k}"]) for k in _ENRICHMENT_KEYS} if row["has_enrichment"] else None
        ),
        "score": _score(row),
        "stage": row["stage"] or "new",
        "stage_since": _json(row["stage_since"]),
        "contact": {
            "messages": row["n_messages"],
            "messages_sent": row["n_sent"],
            "last_sent_at": _json(row["last_sent_at"]),
            "replies": row["n_replies"],
            "last_reply_at": _json(row["last_reply_at"]),
            "opted_out": row["opted_out"],
        },
    }


def _county_property(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["p_apn"] is None:
        return None
    return {"source": "county_roll"} | {k: _json(row[f"p_{k}"]) for k in _PROPERTY_KEYS}


def _cached_property(provider: str, facts: dict[str, Any]) -> dict[str, Any]:
    # A provider's facts have no address of their own (the key they are cached by is the lead's).
    out = {"source": provider} | {k: facts.get(k) for k in _PROPERTY_KEYS}
    for key in _CACHED_MONEY:
        out[key] = _whole_dollars(out[key])
    return out


def _address_key(row: dict[str, Any]) -> str | None:
    address = standardize(
        row["property_street"], row["property_city"], row["property_state"], row["property_zip"]
    )
    return address.key if address is not None else None


def _score(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["s_score"] is None:
        return None
    reasons = [
        {"feature": r.get("feature"), "contribution": r.get("contribution"), "text": r.get("text")}
        for r in row["s_reason_codes"] or []
        if isinstance(r, dict)
    ]
    return {
        "score": row["s_score"],
        "model_name": row["s_model_name"],
        "model_version": row["s_model_version"],
        "scored_at": _json(row["s_scored_at"]),
        "reasons": reasons,
    }
