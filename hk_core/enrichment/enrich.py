"""Enriching a batch of leads: contact checks, the standard address, the county or vendor
record of the property, and whether the seller is its owner of record."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from hk_core.address import StandardAddress, standardize
from hk_core.address import parts as street_parts

from . import email as email_checks
from . import owner as owner_checks
from . import phone as phone_checks
from .email import EmailCheck, check_email
from .facts import PropertyFacts
from .owner import is_owner_of_record, owner_match_score
from .parallel import MIN_PARALLEL_ITEMS, fork_available, parallel_map, worker_count
from .phone import PhoneCheck, check_phone
from .providers import EnrichmentProvider
from .reference import ReferenceDataProvider

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

    def count(self, row: dict[str, Any], *, matched: bool) -> None:
        """Add one enriched row's signals (``matched``: the provider had its parcel)."""
        self.address_parsed += bool(row["address_parsed"])
        self.county_matched += matched and bool(row["address_parsed"])
        self.owner_matched += row["is_owner_of_record"] is True
        self.email_valid += row["email_is_valid"] is True
        self.phone_valid += row["phone_is_valid"] is True

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
    _fill_signals(row, address, facts, email, phone)
    if facts is None:
        return
    first, last = lead.get("first_name"), lead.get("last_name")
    row["is_owner_of_record"] = is_owner_of_record(first, last, facts.owner_name)
    if row["is_owner_of_record"] is not None:
        row["owner_match_score"] = owner_match_score(first, last, facts.owner_name)


_SLICES_PER_PROCESS = 2
_KIND_ORDER = {"address": 0, "email": 1, "phone": 2}


class _Failed:
    """A check that raised in a worker: it is made again in the calling process, where it
    raises again and is logged and counted exactly as the per-lead path does."""


_FAILED = _Failed()
# (kind, arguments, their types): 78701 and 78701.0 are equal keys but not equal input.
_Check = tuple[str, tuple[Any, ...], tuple[type, ...]]


def _checked(check: _Check) -> Any:
    """One distinct value's check, run in a worker: an address, an email or a phone."""
    kind, args, _ = check
    try:
        if kind == "address":
            return standardize(*args)
        if kind == "email":
            return check_email(*args)
        return check_phone(*args)
    except Exception:
        return _FAILED


def _key(value: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The value itself when it can key a dict (an unhashable one is checked on its own)."""
    try:
        hash(value)
    except TypeError:
        return None
    return value


def clear_caches() -> None:
    """Forget every memoised address, phone, email and owner reading in this process (a cold
    start, for benchmarks and tests)."""
    standardize.cache_clear()
    street_parts.clear_caches()
    for checks in (email_checks, phone_checks, owner_checks):
        checks.clear_cache()


def enrich_leads(
    leads: list[dict[str, Any]],
    provider: EnrichmentProvider,
    *,
    phone_region: str = "US",
    workers: int | None = 1,
) -> tuple[list[dict[str, Any]], EnrichmentStats]:
    """One enriched row per lead, in order; raw email and phone are not in the output.

    A lead that cannot be enriched keeps its row with null signals. A provider that fails as a
    whole (VendorUnavailable) raises, so the caller writes nothing rather than half a partition.

    Each distinct address, email and phone is checked once, and each (submitter, owner) pair
    scored once. With ``workers`` other than 1 (None or 0: one per core), a large batch is
    spread over that many forked processes: with the county roll, each enriches a slice of
    the leads whole (its own lookup); with another provider, only the checks are spread and
    the provider is asked once. The rows are ``enrich_leads_reference``'s, field for field.
    """
    processes = min(worker_count(workers), len(leads) // (MIN_PARALLEL_ITEMS // 2) or 1)
    if isinstance(provider, ReferenceDataProvider) and processes > 1 and fork_available():
        return _enrich_in_slices(leads, provider, phone_region, processes)
    return _enrich_batch(leads, provider, phone_region, workers)


# What forked workers enrich with: inherited through fork, never pickled (the provider holds
# its record cache, which can be large). The lock keeps two threads from forking at once with
# each other's provider.
_FORKED: tuple[ReferenceDataProvider, str] | None = None
_FORKING = threading.Lock()


def _enrich_slice(
    leads: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], EnrichmentStats, dict[str, str]]:
    assert _FORKED is not None
    provider, phone_region = _FORKED
    provider.workers = 1  # this process's copy: no processes of its own
    rows, stats = _enrich_batch(leads, provider, phone_region, 1)
    return rows, stats, provider.rule_by_key


def _enrich_in_slices(
    leads: list[dict[str, Any]], provider: ReferenceDataProvider, phone_region: str, processes: int
) -> tuple[list[dict[str, Any]], EnrichmentStats]:
    global _FORKED
    size = -(-len(leads) // (processes * _SLICES_PER_PROCESS))
    slices = [leads[i : i + size] for i in range(0, len(leads), size)]
    with _FORKING:
        _FORKED = (provider, phone_region)
        try:
            answers = parallel_map(_enrich_slice, slices, processes, min_items=2)
        finally:
            _FORKED = None
    rows = [row for slice_rows, _, _ in answers for row in slice_rows]
    stats = EnrichmentStats(leads=len(leads))
    for _, slice_stats, _ in answers:
        for field in fields(EnrichmentStats):
            if field.name != "leads":
                value = getattr(stats, field.name) + getattr(slice_stats, field.name)
                setattr(stats, field.name, value)
    # An address in two slices is one address of the batch, as in one lookup.
    provider.rule_by_key = {key: rule for _, _, rules in answers for key, rule in rules.items()}
    return rows, stats


def _enrich_batch(
    leads: list[dict[str, Any]],
    provider: EnrichmentProvider,
    phone_region: str,
    workers: int | None,
) -> tuple[list[dict[str, Any]], EnrichmentStats]:
    stats = EnrichmentStats(leads=len(leads))
    wanted: dict[_Check, None] = {}
    lead_checks: list[tuple[_Check | None, ...]] = []
    for lead in leads:
        checks: list[_Check | None] = []
        for kind, args in (
            ("address", (lead.get("property_street"), lead.get("property_city"),
                         lead.get("property_state"), lead.get("property_zip"))),
            ("email", (lead.get("email"),)),
            ("phone", (lead.get("phone"), phone_region)),
        ):  # fmt: skip
            check = (kind, args, tuple(map(type, args))) if _key(args) is not None else None
            if check is not None:
                wanted[check] = None
            checks.append(check)
        lead_checks.append(tuple(checks))
    # One kind after the other: interleaving the tagger, phonenumbers and email-validator
    # costs more CPU than running each over its own values.
    ordered = sorted(wanted, key=lambda check: _KIND_ORDER[check[0]])
    answers = dict(zip(ordered, parallel_map(_checked, ordered, workers), strict=True))

    def answer(check: _Check | None, kind: str, lead: dict[str, Any]) -> Any:
        found = _FAILED if check is None else answers[check]
        if not isinstance(found, _Failed):
            return found
        # Unhashable input, or a check that raised: made here, as the per-lead path makes it.
        if kind == "address":
            return _lead_address(lead)
        if kind == "email":
            return check_email(lead.get("email"))
        return check_phone(lead.get("phone"), phone_region)

    addresses: list[StandardAddress | None] = []
    for lead, (address_check, _, _) in zip(leads, lead_checks, strict=True):
        try:
            addresses.append(answer(address_check, "address", lead))
        except Exception:  # one strange address must not cost the batch
            log.exception("address standardisation failed for lead %s", lead.get("lead_id"))
            addresses.append(None)
    to_look_up = list({a.key: a for a in addresses if a is not None}.values())
    facts_by_key = provider.lookup(to_look_up) if to_look_up else {}
    owners: dict[tuple[Any, Any, str], tuple[bool | None, float | None]] = {}
    rows = []
    for lead, address, (_, email_check, phone_check) in zip(
        leads, addresses, lead_checks, strict=True
    ):
        row = _empty_row(lead, provider.name)
        facts = None
        if address is not None:
            if address.key not in facts_by_key:
                stats.provider_failures += 1
            facts = facts_by_key.get(address.key)
        try:
            email = answer(email_check, "email", lead)
            phone = answer(phone_check, "phone", lead)
            _fill_signals(row, address, facts, email, phone)
            if facts is not None:
                row["is_owner_of_record"], row["owner_match_score"] = _owner(lead, facts, owners)
        except Exception:
            log.exception("enrichment failed for lead %s", lead.get("lead_id"))
            stats.lead_errors += 1
            row = _empty_row(lead, provider.name)
        stats.count(row, matched=facts is not None)
        rows.append(row)
    return rows, stats


def _owner(
    lead: dict[str, Any],
    facts: PropertyFacts,
    memo: dict[tuple[Any, Any, str], tuple[bool | None, float | None]],
) -> tuple[bool | None, float | None]:
    """(is_owner_of_record, owner_match_score), once per (first, last, owner) in a batch."""
    first, last = lead.get("first_name"), lead.get("last_name")
    key = _key((first, last, facts.owner_name))
    if key is not None and key in memo:
        return memo[key]
    is_owner = is_owner_of_record(first, last, facts.owner_name)
    score = owner_match_score(first, last, facts.owner_name) if is_owner is not None else None
    if key is not None:
        memo[key] = (is_owner, score)
    return is_owner, score


def _fill_signals(
    row: dict[str, Any],
    address: StandardAddress | None,
    facts: PropertyFacts | None,
    email: EmailCheck,
    phone: PhoneCheck,
) -> None:
    """``_signals`` without the owner of record, from checks already made."""
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


def enrich_leads_reference(
    leads: list[dict[str, Any]], provider: EnrichmentProvider, *, phone_region: str = "US"
) -> tuple[list[dict[str, Any]], EnrichmentStats]:
    """``enrich_leads`` one lead at a time, as it was before issue 19: every check made for
    every lead. Kept as the reference the fast path is held to (tests/test_enrichment_speed.py,
    benchmarks/bench_enrichment.py)."""
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
        stats.count(row, matched=facts is not None)
        rows.append(row)
    return rows, stats
