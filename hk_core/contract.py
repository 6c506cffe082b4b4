"""The lead contract: what the API, the bulk import and the CLI accept, as pydantic models.

The CSV/NDJSON column names are the field names; docs/data-contracts.md describes each.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hk_core.geo import parse_state, parse_zip
from hk_core.parsing import (
    choice,
    free_text,
    missing_to_none,
    money,
    number_range,
    parse_bool,
    parse_date,
    parse_datetime,
    slug,
)

STAGES = (
    "new", "contacted", "qualified", "appointment_set", "offer_made",
    "under_contract", "closed_won", "closed_lost",
)  # fmt: skip
Stage = Literal[
    "new", "contacted", "qualified", "appointment_set", "offer_made",
    "under_contract", "closed_won", "closed_lost",
]  # fmt: skip

PROPERTY_TYPES = {
    "single_family": "single_family", "sfr": "single_family", "sfh": "single_family",
    "single_family_home": "single_family", "single_family_residence": "single_family",
    "house": "single_family", "detached": "single_family", "single": "single_family",
    "multi_family": "multi_family", "multifamily": "multi_family", "duplex": "multi_family",
    "triplex": "multi_family", "fourplex": "multi_family", "quadplex": "multi_family",
    "mfr": "multi_family", "2_4_units": "multi_family", "apartment_building": "multi_family",
    "condo": "condo", "condominium": "condo", "apartment": "condo",
    "townhouse": "townhouse", "townhome": "townhouse", "town_house": "townhouse",
    "row_house": "townhouse",
    "mobile_home": "mobile_home", "mobile": "mobile_home", "manufactured": "mobile_home",
    "manufactured_home": "mobile_home", "trailer": "mobile_home",
    "land": "land", "lot": "land", "vacant_land": "land", "acreage": "land",
    "other": "other", "commercial": "other",
}  # fmt: skip
CONDITIONS = {
    "excellent": "excellent", "like_new": "excellent", "updated": "excellent",
    "renovated": "excellent", "move_in_ready": "excellent",
    "good": "good", "average": "fair", "fair": "fair", "ok": "fair", "okay": "fair",
    "needs_work": "poor", "needs_some_work": "fair", "dated": "fair", "poor": "poor",
    "needs_repairs": "poor", "fixer": "poor", "fixer_upper": "poor", "bad": "poor",
    "distressed": "distressed", "teardown": "distressed", "tear_down": "distressed",
    "uninhabitable": "distressed", "fire_damage": "distressed", "major_repairs": "distressed",
    "unknown": "unknown",
}  # fmt: skip
OCCUPANCIES = {
    "owner_occupied": "owner_occupied", "owner": "owner_occupied", "i_live_there": "owner_occupied",
    "primary_residence": "owner_occupied", "living_in_it": "owner_occupied",
    "tenant_occupied": "tenant_occupied", "tenant": "tenant_occupied", "rented": "tenant_occupied",
    "rental": "tenant_occupied", "renters": "tenant_occupied", "leased": "tenant_occupied",
    "vacant": "vacant", "empty": "vacant", "unoccupied": "vacant", "abandoned": "vacant",
    "unknown": "unknown",
}  # fmt: skip
MOTIVATIONS = {
    "foreclosure": "foreclosure", "pre_foreclosure": "foreclosure", "behind_on_payments": "foreclosure",
    "divorce": "divorce", "separation": "divorce",
    "inheritance": "inherited", "inherited": "inherited", "probate": "inherited",
    "estate": "inherited", "death": "inherited", "passed_away": "inherited",
    "relocation": "relocation", "relocating": "relocation", "moving": "relocation",
    "job_transfer": "relocation", "transfer": "relocation",
    "financial": "financial_distress", "financial_distress": "financial_distress",
    "debt": "financial_distress", "bankruptcy": "financial_distress", "need_cash": "financial_distress",
    "tired_landlord": "tired_landlord", "landlord": "tired_landlord", "bad_tenants": "tired_landlord",
    "tenants": "tired_landlord",
    "repairs": "repairs", "too_many_repairs": "repairs", "cant_afford_repairs": "repairs",
    "downsizing": "downsizing", "downsize": "downsizing", "retiring": "downsizing",
    "retirement": "downsizing", "empty_nest": "downsizing",
    "tax": "tax_problems", "taxes": "tax_problems", "back_taxes": "tax_problems",
    "tax_problems": "tax_problems",
    "just_curious": "curious", "curious": "curious", "testing_the_market": "curious",
    "other": "other",
}  # fmt: skip
TIMELINES = {
    "asap": "asap", "immediately": "asap", "now": "asap", "urgent": "asap", "right_away": "asap",
    "this_week": "asap", "within_30_days": "30_days", "30_days": "30_days", "1_month": "30_days",
    "one_month": "30_days", "this_month": "30_days", "30": "30_days",
    "within_90_days": "90_days", "90_days": "90_days", "3_months": "90_days",
    "1_3_months": "90_days", "60_days": "90_days", "2_3_months": "90_days", "90": "90_days",
    "6_months": "6_months", "3_6_months": "6_months", "within_6_months": "6_months",
    "six_months": "6_months", "180_days": "6_months",
    "12_months": "12_months_plus", "1_year": "12_months_plus", "a_year": "12_months_plus",
    "12_months_plus": "12_months_plus", "over_a_year": "12_months_plus", "no_rush": "12_months_plus",
    "not_sure": "unknown", "unsure": "unknown", "unknown": "unknown", "just_looking": "unknown",
}  # fmt: skip
STAGE_ALIASES = {s: s for s in STAGES} | {
    "lead": "new", "new_lead": "new", "created": "new",
    "contact_made": "contacted", "called": "contacted", "reached": "contacted",
    "qualify": "qualified", "appointment": "appointment_set", "appt_set": "appointment_set",
    "appointment_scheduled": "appointment_set", "offer": "offer_made", "offer_sent": "offer_made",
    "contract": "under_contract", "in_contract": "under_contract", "pending": "under_contract",
    "closed": "closed_won", "won": "closed_won", "closed_deal": "closed_won", "purchased": "closed_won",
    "lost": "closed_lost", "dead": "closed_lost", "closed_dead": "closed_lost",
    "not_interested": "closed_lost",
}  # fmt: skip


class ContractError(ValueError):
    """A whole-record rule that still belongs to a field (or fields), for the error body."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _source(value: Any) -> str | None:
    text = free_text(64)(value)
    if text is None:
        return None
    code = slug(text)
    if not code:
        raise ValueError(f"not a source code: {text[:40]!r}")
    return code


def _external_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = free_text(200, nulls=True)(value)
    return text.strip() if text is not None else None


Name = Annotated[str | None, BeforeValidator(free_text(100, nulls=True))]
Street = Annotated[str | None, BeforeValidator(free_text(200, nulls=True))]
City = Annotated[str | None, BeforeValidator(free_text(100, nulls=True))]
State = Annotated[str | None, BeforeValidator(parse_state)]
Zip = Annotated[str | None, BeforeValidator(parse_zip)]
Email = Annotated[str | None, BeforeValidator(free_text(320, nulls=True))]
Phone = Annotated[str | None, BeforeValidator(free_text(64, nulls=True))]
Money = Annotated[Decimal | None, BeforeValidator(money(1_000_000_000))]
Bedrooms = Annotated[int | None, BeforeValidator(number_range(0, 50, integer=True))]
Bathrooms = Annotated[float | None, BeforeValidator(number_range(0, 50, integer=False))]
SquareFeet = Annotated[int | None, BeforeValidator(number_range(100, 200_000, integer=True))]
YearBuilt = Annotated[int | None, BeforeValidator(number_range(1700, 2100, integer=True))]
Flag = Annotated[bool | None, BeforeValidator(parse_bool)]
Timestamp = Annotated[datetime | None, BeforeValidator(parse_datetime)]
Day = Annotated[date | None, BeforeValidator(parse_date)]
PropertyType = Annotated[
    str | None, BeforeValidator(choice(PROPERTY_TYPES, field_name="property type", unknown="other"))
]

# Column names other systems use for our fields (after folding to a slug), per contract.
LEAD_HEADER_ALIASES = {
    "id": "external_id", "lead_id": "external_id", "ext_id": "external_id",
    "vendor_id": "external_id", "reference": "external_id", "ref": "external_id",
    "lead_source": "source", "channel": "source", "campaign_source": "source", "utm_source": "source",
    "date": "received_at", "created": "received_at", "created_at": "received_at",
    "submitted": "received_at", "submitted_at": "received_at", "date_received": "received_at",
    "lead_date": "received_at", "timestamp": "received_at", "received": "received_at",
    "date_submitted": "received_at", "created_date": "received_at",
    "first": "first_name", "fname": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last": "last_name", "lname": "last_name", "lastname": "last_name", "surname": "last_name",
    "family_name": "last_name",
    "email_address": "email", "e_mail": "email", "mail": "email", "emailaddress": "email",
    "phone_number": "phone", "phone_1": "phone", "phone1": "phone", "mobile": "phone",
    "cell": "phone", "cell_phone": "phone", "mobile_phone": "phone", "telephone": "phone",
    "tel": "phone", "primary_phone": "phone", "phonenumber": "phone", "contact_phone": "phone",
    "address": "property_street", "street": "property_street", "street_address": "property_street",
    "property_address": "property_street", "address_1": "property_street", "address1": "property_street",
    "city": "property_city", "property_town": "property_city", "town": "property_city",
    "state": "property_state", "st": "property_state", "province": "property_state",
    "zip": "property_zip", "zip_code": "property_zip", "zipcode": "property_zip",
    "postal_code": "property_zip", "postcode": "property_zip", "property_zipcode": "property_zip",
    "type": "property_type", "home_type": "property_type", "house_type": "property_type",
    "beds": "bedrooms", "bed": "bedrooms", "br": "bedrooms", "bedroom": "bedrooms", "num_bedrooms": "bedrooms",
    "baths": "bathrooms", "bath": "bathrooms", "ba": "bathrooms", "bathroom": "bathrooms",
    "num_bathrooms": "bathrooms",
    "sqft": "square_feet", "sq_ft": "square_feet", "square_footage": "square_feet",
    "living_area": "square_feet", "size": "square_feet", "sf": "square_feet",
    "year": "year_built", "built": "year_built", "yr_built": "year_built",
    "price": "asking_price", "asking": "asking_price", "ask": "asking_price",
    "list_price": "asking_price", "desired_price": "asking_price", "expected_price": "asking_price",
    "mortgage": "mortgage_balance", "mortgage_owed": "mortgage_balance", "loan_balance": "mortgage_balance",
    "amount_owed": "mortgage_balance", "owed": "mortgage_balance", "mortgage_amount": "mortgage_balance",
    "property_condition": "condition", "home_condition": "condition",
    "occupied": "occupancy", "occupancy_status": "occupancy", "who_lives_there": "occupancy",
    "reason": "motivation", "reason_for_selling": "motivation", "why_selling": "motivation",
    "selling_reason": "motivation",
    "timeframe": "timeline", "time_frame": "timeline", "when_to_sell": "timeline",
    "how_soon": "timeline", "sell_timeline": "timeline",
    "email_consent": "consent_email", "email_opt_in": "consent_email", "opt_in_email": "consent_email",
    "sms_consent": "consent_sms", "sms_opt_in": "consent_sms", "opt_in_sms": "consent_sms",
    "text_consent": "consent_sms", "tcpa_consent": "consent_sms",
    "comments": "notes", "comment": "notes", "message": "notes", "description": "notes", "note": "notes",
}  # fmt: skip
_FULL_NAME_COLUMNS = ("name", "full_name", "seller_name", "contact_name", "fullname")
PROPERTY_HEADER_ALIASES = {
    "parcel": "apn", "parcel_id": "apn", "parcel_number": "apn", "pin": "apn",
    "address": "street", "situs_address": "street", "site_address": "street",
    "property_address": "street", "zip_code": "zip", "zipcode": "zip",
    "owner": "owner_name", "owner_1": "owner_name", "mailing_address": "owner_mailing_street",
    "mail_address": "owner_mailing_street", "mailing_city": "owner_mailing_city",
    "mailing_state": "owner_mailing_state", "mailing_zip": "owner_mailing_zip",
    "beds": "bedrooms", "baths": "bathrooms", "sqft": "square_feet", "living_area": "square_feet",
    "assessed": "assessed_value", "market_value": "estimated_value", "avm": "estimated_value",
    "sale_date": "last_sale_date", "sale_price": "last_sale_price",
    "mortgage_balance": "mortgage_balance_estimate", "loan_balance": "mortgage_balance_estimate",
    "tax_default": "tax_delinquent", "delinquent": "tax_delinquent", "foreclosure": "in_foreclosure",
    "pre_foreclosure": "in_foreclosure",
}  # fmt: skip
STAGE_EVENT_HEADER_ALIASES = {
    "lead_source": "source", "id": "external_id", "ext_id": "external_id", "status": "stage",
    "stage_name": "stage", "date": "occurred_at", "timestamp": "occurred_at",
    "changed_at": "occurred_at", "event_at": "occurred_at", "occurred": "occurred_at",
}  # fmt: skip


def canonical_fields(data: Any, aliases: dict[str, str], known: frozenset[str]) -> Any:
    """Rename other systems' column names to ours. A column already named as ours wins over an
    alias; an alias fills a field only while it is still empty."""
    if not isinstance(data, dict) or data.keys() <= known:
        return data
    out = {key: value for key, value in data.items() if key in known}
    for key, value in data.items():
        if key in known or not isinstance(key, str):
            continue
        target = aliases.get(slug(key))
        if target is not None and out.get(target) in (None, ""):
            out[target] = value
    return out


def _split_full_name(data: dict, original: dict) -> None:
    """Fill first/last name from a single name column: "John Smith" or "Smith, John"."""
    names = {slug(k): v for k, v in original.items() if isinstance(k, str)}
    for column in _FULL_NAME_COLUMNS:
        full = names.get(column)
        if isinstance(full, str) and full.strip():
            if "," in full:  # "Smith, John"
                last, _, first = full.partition(",")
            else:
                first, _, last = full.strip().rpartition(" ")
                if not first:
                    first, last = last, ""
            data["first_name"], data["last_name"] = first.strip() or None, last.strip() or None
            return


# Enumerated fields whose unknown values become a warning rather than a rejection.
_LENIENT_CHOICES = {
    "property_type": "other",
    "condition": "unknown",
    "occupancy": "unknown",
    "motivation": "other",
    "timeline": "unknown",
}
_LENIENT_FLAGS = ("consent_email", "consent_sms")


class LeadIn(BaseModel):
    """One lead as a form, a vendor or a list import sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    external_id: Annotated[str | None, BeforeValidator(_external_id)] = Field(
        default=None, description="The sender's own id; unique per source."
    )
    source: Annotated[str | None, BeforeValidator(_source)] = Field(
        default=None, description="Where the lead came from, e.g. web_form, ppc, direct_mail."
    )
    received_at: Timestamp = Field(
        default=None, description="When the lead arrived (UTC if naive)."
    )
    first_name: Name = None
    last_name: Name = None
    email: Email = None
    phone: Phone = None
    property_street: Street = None
    property_city: City = None
    property_state: State = None
    property_zip: Zip = None
    property_type: PropertyType = None
    bedrooms: Bedrooms = None
    bathrooms: Bathrooms = None
    square_feet: SquareFeet = None
    year_built: YearBuilt = None
    asking_price: Money = None
    mortgage_balance: Money = None
    condition: Annotated[
        str | None, BeforeValidator(choice(CONDITIONS, field_name="condition", unknown="unknown"))
    ] = None
    occupancy: Annotated[
        str | None, BeforeValidator(choice(OCCUPANCIES, field_name="occupancy", unknown="unknown"))
    ] = None
    motivation: Annotated[
        str | None, BeforeValidator(choice(MOTIVATIONS, field_name="motivation", unknown="other"))
    ] = None
    timeline: Annotated[
        str | None, BeforeValidator(choice(TIMELINES, field_name="timeline", unknown="unknown"))
    ] = None
    consent_email: Flag = None
    consent_sms: Flag = None
    notes: Annotated[str | None, BeforeValidator(free_text(5000))] = None

    @model_validator(mode="before")
    @classmethod
    def _columns(cls, data: Any) -> Any:
        original = data
        data = canonical_fields(data, LEAD_HEADER_ALIASES, _LEAD_FIELDS)
        if isinstance(data, dict) and (
            data.get("first_name") in (None, "") and data.get("last_name") in (None, "")
        ):
            data = dict(data)
            _split_full_name(data, original)
        return data

    @model_validator(mode="after")
    def _usable(self) -> LeadIn:
        if self.email is None and self.phone is None:
            raise ContractError("email", "no contact: a lead needs an email or a phone")
        if self.property_street is None:
            raise ContractError("property_street", "required: the property's street address")
        if self.property_zip is None and (
            self.property_city is None or self.property_state is None
        ):
            raise ContractError(
                "property_zip",
                "property address incomplete: give property_zip, or property_city and property_state",
            )
        return self

    def may_have_warnings(self) -> bool:
        """Cheap pre-check, so the common lead skips looking at its raw input again."""
        return any(getattr(self, flag) is None for flag in _LENIENT_FLAGS) or any(
            getattr(self, field) == fallback for field, fallback in _LENIENT_CHOICES.items()
        )

    def warnings(self, raw: dict[str, Any]) -> list[str]:
        """Values we could not map and stored as other/unknown: kept visible, not rejected."""
        if not self.may_have_warnings():
            return []
        raw = canonical_fields(raw, LEAD_HEADER_ALIASES, _LEAD_FIELDS)
        found = []
        for flag in _LENIENT_FLAGS:
            given = raw.get(flag)
            if getattr(self, flag) is None and isinstance(given, str) and missing_to_none(given):
                found.append(f"{flag}: unrecognised value {given[:60]!r} stored as not given")
        for field, fallback in _LENIENT_CHOICES.items():
            if getattr(self, field) == fallback:
                given = raw.get(field)
                if isinstance(given, str) and slug(given) != fallback:
                    found.append(
                        f"{field}: unrecognised value {given[:60]!r} stored as {fallback!r}"
                    )
        return found


class LeadCreated(BaseModel):
    lead_id: int
    created: bool = Field(description="False when the same lead was already stored.")
    warnings: list[str] = Field(default_factory=list)


class Lead(BaseModel):
    """A stored lead as the API returns it (contact fields included: callers are trusted keys)."""

    lead_id: int
    external_id: str | None
    source: str
    received_at: datetime
    first_name: str | None
    last_name: str | None
    email: str | None
    email_normalized: str | None
    phone: str | None
    phone_e164: str | None
    property_street: str
    property_city: str | None
    property_state: str | None
    property_zip: str | None
    property_type: str | None
    bedrooms: int | None
    bathrooms: float | None
    square_feet: int | None
    year_built: int | None
    asking_price: Decimal | None
    mortgage_balance: Decimal | None
    condition: str | None
    occupancy: str | None
    motivation: str | None
    timeline: str | None
    consent_email: bool
    consent_sms: bool
    notes: str | None
    intake_warnings: list[str] | None
    intake_channel: str
    ingested_at: datetime


class StageEventIn(BaseModel):
    """A lead reaching a funnel stage; the lead is named by lead_id or by (source, external_id)."""

    model_config = ConfigDict(extra="ignore")

    lead_id: Annotated[int | None, BeforeValidator(number_range(1, 2**63 - 1, integer=True))] = None
    source: Annotated[str | None, BeforeValidator(_source)] = None
    external_id: Annotated[str | None, BeforeValidator(_external_id)] = None
    stage: Annotated[
        str | None, BeforeValidator(choice(STAGE_ALIASES, field_name="stage", unknown=None))
    ] = None
    occurred_at: Timestamp = None

    @model_validator(mode="before")
    @classmethod
    def _columns(cls, data: Any) -> Any:
        return canonical_fields(data, STAGE_EVENT_HEADER_ALIASES, _STAGE_EVENT_FIELDS)

    @model_validator(mode="after")
    def _usable(self) -> StageEventIn:
        if self.lead_id is None and self.external_id is None:
            raise ContractError("lead_id", "no lead: give lead_id or external_id")
        if self.stage is None:
            raise ContractError("stage", "required")
        if self.occurred_at is None:
            raise ContractError("occurred_at", "required")
        return self


class PropertyRecordIn(BaseModel):
    """One county-assessor record of a parcel."""

    model_config = ConfigDict(extra="ignore")

    apn: Annotated[str | None, BeforeValidator(_external_id)] = None
    street: Street = None
    city: City = None
    state: State = None
    zip: Zip = None
    owner_name: Annotated[str | None, BeforeValidator(free_text(200))] = None
    owner_mailing_street: Street = None
    owner_mailing_city: City = None
    owner_mailing_state: State = None
    owner_mailing_zip: Zip = None
    property_type: PropertyType = None
    bedrooms: Bedrooms = None
    bathrooms: Bathrooms = None
    square_feet: SquareFeet = None
    year_built: YearBuilt = None
    assessed_value: Money = None
    estimated_value: Money = None
    last_sale_date: Day = None
    last_sale_price: Money = None
    mortgage_balance_estimate: Money = None
    tax_delinquent: Flag = None
    in_foreclosure: Flag = None

    @model_validator(mode="before")
    @classmethod
    def _columns(cls, data: Any) -> Any:
        return canonical_fields(data, PROPERTY_HEADER_ALIASES, _PROPERTY_FIELDS)

    @model_validator(mode="after")
    def _usable(self) -> PropertyRecordIn:
        if self.apn is None:
            raise ContractError("apn", "required")
        if self.street is None:
            raise ContractError("street", "required")
        return self


LEAD_COLUMNS = tuple(LeadIn.model_fields)
_LEAD_FIELDS = frozenset(LEAD_COLUMNS)
_STAGE_EVENT_FIELDS = frozenset(StageEventIn.model_fields)
_PROPERTY_FIELDS = frozenset(PropertyRecordIn.model_fields)
STAGE_EVENT_COLUMNS = tuple(StageEventIn.model_fields)
PROPERTY_RECORD_COLUMNS = tuple(PropertyRecordIn.model_fields)
