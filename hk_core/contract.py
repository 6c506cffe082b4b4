"""The lead contract: what the API, the bulk import and the CLI accept, as pydantic models.

The CSV/NDJSON column names are the field names; docs/data-contracts.md describes each.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from hk_core.geo import parse_state, parse_zip
from hk_core.numbers import money, number_range
from hk_core.parsing import (
    choice,
    free_text,
    missing_to_none,
    parse_bool,
    parse_date,
    parse_datetime,
    slug,
)
from hk_core.vocabulary import (
    CONDITIONS,
    FULL_NAME_COLUMNS,
    LEAD_HEADER_ALIASES,
    MOTIVATIONS,
    OCCUPANCIES,
    PROPERTY_HEADER_ALIASES,
    PROPERTY_TYPES,
    STAGE_ALIASES,
    STAGE_EVENT_HEADER_ALIASES,
    TIMELINES,
)

Stage = Literal[
    "new", "contacted", "qualified", "appointment_set", "offer_made",
    "under_contract", "closed_won", "closed_lost",
]  # fmt: skip


class ContractError(ValueError):
    """A whole-record rule that still belongs to a field (or fields), for the error body."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


_SOURCE_TEXT = free_text(64)
_EXTERNAL_ID_TEXT = free_text(200, nulls=True)


def _source(value: Any, info: ValidationInfo) -> str | None:
    text = _SOURCE_TEXT(value, info)
    if text is None:
        return None
    code = slug(text)
    if not code:
        raise ValueError(f"not a source code: {text[:40]!r}")
    return code


def _external_id(value: Any, info: ValidationInfo) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _EXTERNAL_ID_TEXT(value, info)
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
    for column in FULL_NAME_COLUMNS:
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


def _one_line_address(street: str) -> bool:
    """The whole address typed in the street line ("12 Main St, Austin, TX 78701"): it is kept
    as sent, and enrichment reads the city, state and ZIP out of it (docs/enrichment.md)."""
    from hk_core.address import standardize  # usaddress loads only for the lead that needs it

    address = standardize(street)
    return address is not None and (
        address.zip5 is not None or bool(address.city and address.state)
    )


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
        if (
            self.property_zip is None
            and (self.property_city is None or self.property_state is None)
            and not _one_line_address(self.property_street)
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
