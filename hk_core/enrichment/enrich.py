"""Enriching a batch of leads: contact checks, the standard address, the county or vendor
record of the property, and whether the seller is its owner of record."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from hk_core.address import StandardAddress, standardize

from .email import check_email
from .facts import PropertyFacts
from .owner import is_owner_of_record, owner_match_score
from .phone import check_phone
from .providers import EnrichmentProvider

log = logging.getLogger(__name__)

# Lead columns carried through unchanged (money as float): what a model needs besides signals.
LEAD_FIELDS = (
    "lead_id", "external_id", "source", "received_at", "email_hash", "phone_hash",
    "asking_price", "mortgage_balance", "condition", "occupancy", "motivation", "timeline",
    "consent_email", "consent_sms",
)  # fmt: skip
# Building facts: the county's (or vendor's) when it has them, else what the seller told us.
FACTS_FALLING_BACK_TO_LEAD = ("property_type", "bedrooms", "bathrooms", "square_feet",
                              "year_built")  # fmt: skip
COUNTY_ONLY_FACTS = (
    "owner_name", "is_absentee_owner", "assessed_value", "estimated_value", "last_sale_date",
    "last_sale_price", "mortgage_balance_estimate", "equity", "equity_ratio", "tax_delinquent",
    "in_foreclosure",
)  # fmt: skip
SIGNAL_FIELDS = (
    "email_normalized", "email_is_valid", "email_is_disposable", "email_is_role",
    "phone_e164", "phone_is_valid", "phone_line_type", "phone_region", "address_line1",
    "address_city", "address_state", "address_zip5", "address_key", "address_parsed", "apn",
    "is_owner_of_record", "owner_match_score", "enrichment_provider",
)  # fmt: skip
ENRICHED_FIELDS = LEAD_FIELDS + SIGNAL_FIELDS + COUNTY_ONLY_FACTS + FACTS_FALLING_BACK_TO_LEAD


@dataclass
class EnrichmentStats:
    leads: int = 0
    address_parsed: int = 0
    county_matched: int = 0
    owner_matched: int = 0
    email_valid: int = 0
    phone_valid: int = 0
    provider_failures: int = 0  # leads whose address the provider left unanswered
    lead_errors: int = 0  # leads whose own enrichment raised; kept with null signals

    @property
    def address_parse_rate(self) -> float:
        return self.address_parsed / self.leads if self.leads else 0.0

    @property
    def county_match_rate(self) -> float:
        """Matched leads over leads with a parsed address (unparsed ones cannot match)."""
        return self.county_matched / self.address_parsed if self.address_parsed else 0.0

    @property
    def owner_match_rate(self) -> float:
        """Owners of record over county-matched leads."""
        return self.owner_matched / self.county_matched if self.county_matched else 0.0

    def as_metadata(self) -> dict[str, int | float]:
        """Counts and rates, flat, for Dagster metadata."""
        return {
            **asdict(self),
            "address_parse_rate": round(self.address_parse_rate, 4),
            "county_match_rate": round(self.county_match_rate, 4),
            "owner_match_rate": round(self.owner_match_rate, 4),
        }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _lead_address(lead: dict[str, Any]) -> StandardAddress | None:
    return standardize(
        lead.get("property_street"),
        lead.get("property_city"),
        lead.get("property_state"),
        lead.get("property_zip"),
    )


def _empty_row(lead: dict[str, Any], provider_name: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ENRICHED_FIELDS)
    row.update({name: _plain(lead.get(name)) for name in LEAD_FIELDS})
    row.update({name: _plain(lead.get(name)) for name in FACTS_FALLING_BACK_TO_LEAD})
    row["address_parsed"] = False
    row["enrichment_provider"] = provider_name
    return row


def _signals(
    lead: dict[str, Any],
    address: StandardAddress | None,
    facts: PropertyFacts | None,
    row: dict,
    phone_region: str,
) -> None:
    email = check_email(lead.get("email"))
    phone = check_phone(lead.get("phone"), phone_region)
    row.update(
        email_normalized=email.normalized,
        email_is_valid=email.is_valid,
        email_is_disposable=email.is_disposable,
        email_is_role=email.is_role,
        phone_e164=phone.e164,
        phone_is_valid=phone.is_valid,
        phone_line_type=phone.line_type,
        phone_region=phone.region,
    )
    if address is not None:
        row.update(
            address_line1=address.line1,
            address_city=address.city,
            address_state=address.state,
            address_zip5=address.zip5,
            address_key=address.key,
            address_parsed=True,
        )
    if facts is None:
        return
    row["apn"] = facts.apn
    for name in COUNTY_ONLY_FACTS:
        row[name] = getattr(facts, name)
    for name in FACTS_FALLING_BACK_TO_LEAD:
        value = getattr(facts, name)
        if value is not None:
            row[name] = value
    first, last = lead.get("first_name"), lead.get("last_name")
    row["is_owner_of_record"] = is_owner_of_record(first, last, facts.owner_name)
    if row["is_owner_of_record"] is not None:
        row["owner_match_score"] = owner_match_score(first, last, facts.owner_name)


def enrich_leads(
    leads: list[dict[str, Any]], provider: EnrichmentProvider, *, phone_region: str = "US"
) -> tuple[list[dict[str, Any]], EnrichmentStats]:
    """One enriched row per lead, in order; raw email and phone are not in the output.

    A lead that cannot be enriched keeps its row with null signals. A provider that fails as a
    whole (VendorUnavailable) raises, so the caller writes nothing rather than half a partition.
    """
    stats = EnrichmentStats(leads=len(leads))
    addresses: list[StandardAddress | None] = []
    for lead in leads:
        try:
            addresses.append(_lead_address(lead))
        except Exception:  # one strange address must not cost the batch
            log.exception("address standardisation failed for lead %s", lead.get("lead_id"))
            addresses.append(None)
    to_look_up = list({a.key: a for a in addresses if a is not None}.values())
    answers = provider.lookup(to_look_up) if to_look_up else {}
    rows = []
    for lead, address in zip(leads, addresses, strict=True):
        row = _empty_row(lead, provider.name)
        facts = None
        if address is not None:
            if address.key not in answers:
                stats.provider_failures += 1
            facts = answers.get(address.key)
        try:
            _signals(lead, address, facts, row, phone_region)
        except Exception:
            log.exception("enrichment failed for lead %s", lead.get("lead_id"))
            stats.lead_errors += 1
            row = _empty_row(lead, provider.name)
        stats.address_parsed += bool(row["address_parsed"])
        stats.county_matched += facts is not None and bool(row["address_parsed"])
        stats.owner_matched += row["is_owner_of_record"] is True
        stats.email_valid += row["email_is_valid"] is True
        stats.phone_valid += row["phone_is_valid"] is True
        rows.append(row)
    return rows, stats
