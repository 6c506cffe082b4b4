"""The lead contract: what is refused, what is normalised, and what is merely flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from hk_core.contract import LeadIn, PropertyRecordIn, StageEventIn
from hk_core.parsing import CSV_CELLS
from hk_core.pii import PiiHasher
from hk_core.records import field_errors

GOOD = {
    "source": "Web Form", "external_id": "WF-1", "received_at": "2025-03-04T10:22:00Z",
    "first_name": "John", "last_name": "Smith", "email": "John.Smith@Example.com",
    "phone": "(512) 555-0147", "property_street": "123 North Main Street Apt 4",
    "property_city": "Austin", "property_state": "Texas", "property_zip": "78701",
}  # fmt: skip


def errors_for(**changes) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**GOOD, **changes})
    return dict(field_errors(info.value))


def test_messy_values_are_normalised():
    lead = LeadIn.model_validate({
        **GOOD, "property_zip": "2134", "asking_price": "$250,000", "mortgage_balance": "120k",
        "square_feet": "1,850", "bathrooms": " 2.5 ", "property_type": "SFR",
        "timeline": "ASAP", "motivation": "going through a divorce", "consent_sms": "Y",
        "received_at": "03/04/2025 10:22",
    })  # fmt: skip
    assert lead.source == "web_form"
    assert lead.property_state == "TX"
    assert lead.property_zip == "02134"
    assert lead.asking_price == Decimal("250000.00")
    assert lead.mortgage_balance == Decimal("120000.00")
    assert lead.square_feet == 1850 and lead.bathrooms == 2.5
    assert (lead.property_type, lead.timeline, lead.motivation) == (
        "single_family",
        "asap",
        "divorce",
    )
    assert lead.consent_sms is True
    assert lead.received_at.isoformat() == "2025-03-04T10:22:00+00:00"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"email": None, "phone": ""}, "email", "no contact"),
        ({"property_street": "  "}, "property_street", "required"),
        ({"property_zip": None, "property_city": None}, "property_zip", "incomplete"),
        ({"received_at": "yesterday-ish"}, "received_at", "unparseable"),
        ({"received_at": "13/45/2024"}, "received_at", "unparseable"),
        ({"bedrooms": "three"}, "bedrooms", "not a number"),
        ({"bedrooms": "-2"}, "bedrooms", "out of range"),
        ({"square_feet": 5}, "square_feet", "out of range"),
        ({"asking_price": "-5000"}, "asking_price", "negative"),
        ({"asking_price": "lots"}, "asking_price", "not an amount"),
        ({"property_zip": "ABCDE"}, "property_zip", "ZIP"),
        ({"property_state": "ZZ"}, "property_state", "unknown US state"),
        ({"first_name": "Jo\x00hn"}, "first_name", "NUL"),
        ({"notes": "x" * 5001}, "notes", "longer than"),
        ({"bedrooms": True}, "bedrooms", "boolean"),
        ({"first_name": ["John"]}, "first_name", "expected text"),
    ],
)
def test_unusable_values_are_refused_naming_the_field(changes, field, words):
    errors = errors_for(**changes)
    assert field in errors, errors
    assert words in errors[field]


def test_invalid_email_or_phone_is_not_a_rejection():
    lead = LeadIn.model_validate({**GOOD, "email": "not-an-email", "phone": "12"})
    hasher = PiiHasher("k")
    keys = hasher.contact_keys(lead.email, lead.phone)
    assert keys.email_normalized is None and keys.phone_e164 is None
    assert keys.email_hash and keys.phone_hash  # still hashed, so dedup works


def test_unknown_category_is_a_warning_not_a_rejection():
    raw = {**GOOD, "condition": "haunted, probably"}
    lead = LeadIn.model_validate(raw)
    assert lead.condition == "unknown"
    assert lead.warnings(raw) == [
        "condition: unrecognised value 'haunted, probably' stored as 'unknown'"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Robert'); DROP TABLE app.leads;--",
        "🏠 Zoë",
        "\u202eevil\u202c",
        "a\u200bb\u200dc",
        " spaced ",
    ],
)
def test_free_text_is_kept_byte_for_byte(text):
    assert LeadIn.model_validate({**GOOD, "first_name": text}).first_name == text


def test_contacts_normalised_by_the_libraries_and_hashed_with_the_key():
    hasher = PiiHasher("key-1")
    a = hasher.contact_keys("John.Smith@EXAMPLE.com", "(512) 555-0147")
    b = hasher.contact_keys(" john.smith@example.com", "+1 512.555.0147")
    assert a.phone_e164 == "+15125550147" == b.phone_e164
    assert a.email_normalized == "John.Smith@example.com"
    assert a.email_hash == b.email_hash and a.phone_hash == b.phone_hash
    other_key = PiiHasher("key-2").contact_keys("john.smith@example.com", None)
    assert other_key.email_hash != a.email_hash
    assert "john" not in (a.email_hash or "")


def test_stage_event_and_property_record_contracts():
    event = StageEventIn.model_validate(
        {"source": "PPC", "external_id": "P-1", "stage": "Contract", "occurred_at": "2025-01-02"}
    )
    assert (event.source, event.stage) == ("ppc", "under_contract")
    with pytest.raises(ValidationError) as info:
        StageEventIn.model_validate(
            {"external_id": "P-1", "stage": "won-ish?", "occurred_at": "2025-01-02"}
        )
    assert "stage" in dict(field_errors(info.value))
    record = PropertyRecordIn.model_validate({
        "apn": "0123-456", "street": "123 N MAIN ST", "owner_name": "SMITH JOHN A",
        "tax_delinquent": "Y", "in_foreclosure": "N", "estimated_value": "310000",
        "last_sale_date": "2009-06-01",
    })  # fmt: skip
    assert record.tax_delinquent is True and record.in_foreclosure is False
    assert str(record.last_sale_date) == "2009-06-01"


def test_placeholders_mean_not_given_not_bad():
    lead = LeadIn.model_validate({
        **GOOD, "bedrooms": "N/A", "asking_price": "-", "year_built": "?", "property_type": "none",
        "received_at": "n/a", "consent_email": "TBD", "first_name": "N/A",
    }, context=CSV_CELLS)  # fmt: skip
    assert (lead.bedrooms, lead.asking_price, lead.year_built) == (None, None, None)
    assert lead.property_type is None and lead.received_at is None and lead.first_name is None
    # ...but a lead whose only contact is a placeholder has no contact.
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**GOOD, "email": "n/a", "phone": "none"}, context=CSV_CELLS)
    assert "email" in dict(field_errors(info.value))


def test_null_like_text_is_text_in_json():
    """People are called Null: only a CSV cell has no other way to say "empty"."""
    lead = LeadIn.model_validate({**GOOD, "first_name": "NULL", "last_name": "None"})
    assert (lead.first_name, lead.last_name) == ("NULL", "None")
    csv_lead = LeadIn.model_validate({**GOOD, "first_name": "NULL"}, context=CSV_CELLS)
    assert csv_lead.first_name is None
    # A typed field has no value spelled "N/A", so there it means "not given" in JSON too.
    assert LeadIn.model_validate({**GOOD, "bedrooms": "N/A"}).bedrooms is None


@pytest.mark.parametrize(
    ("field", "typed", "expected"),
    [
        ("bedrooms", "3 beds", 3),
        ("bedrooms", "4br", 4),
        ("bathrooms", "2.5 baths", 2.5),
        ("square_feet", "1,850 sq ft", 1850),
        ("square_feet", "~2000 sqft", 2000),
        ("asking_price", "$250K", Decimal("250000.00")),
        ("asking_price", "250,000 USD", Decimal("250000.00")),
        ("asking_price", "1.2 million", Decimal("1200000.00")),
        ("asking_price", "$ 310 000", Decimal("310000.00")),
        ("consent_sms", "Opted In", True),
        ("consent_email", "unsubscribed", False),
    ],
)
def test_numbers_and_flags_as_people_type_them(field, typed, expected):
    assert getattr(LeadIn.model_validate({**GOOD, field: typed}), field) == expected


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("2025-03-04 10:22:00 UTC", "2025-03-04T10:22:00+00:00"),
        ("Tue, 04 Mar 2025 10:22:00 -0500", "2025-03-04T10:22:00-05:00"),
        ("25/03/2025", "2025-03-25T00:00:00+00:00"),  # day first: only when it cannot be a month
        ("03/04/2025", "2025-03-04T00:00:00+00:00"),  # ambiguous: US month first
        ("45720", "2025-03-04T00:00:00+00:00"),  # a spreadsheet serial date
        ("Mar 4 2025 10:22AM", "2025-03-04T10:22:00+00:00"),
        ("1741083720", "2025-03-04T10:22:00+00:00"),
        ("03/04/2025 10:22 AM CST", "2025-03-04T10:22:00-06:00"),
        ("2025-07-04 09:00 PDT", "2025-07-04T09:00:00-07:00"),
        ("2025.03.04", "2025-03-04T00:00:00+00:00"),
    ],
)
def test_dates_as_systems_write_them(typed, iso):
    assert LeadIn.model_validate({**GOOD, "received_at": typed}).received_at.isoformat() == iso


def test_other_systems_column_names_are_understood():
    lead = LeadIn.model_validate({
        "Lead Source": "Zillow", "Full Name": "Maria de la Cruz", "Phone Number": "512-555-0111",
        "E-mail": "maria@example.com", "Address": "77 Bay Rd", "Zip Code": "78704",
        "Beds": "3", "Reason for selling": "job transfer", "Timeframe": "1-3 months",
        "email": "",
    })  # fmt: skip
    assert (lead.source, lead.first_name, lead.last_name) == ("zillow", "Maria de la", "Cruz")
    assert (lead.phone, lead.email, lead.property_street) == (
        "512-555-0111",
        "maria@example.com",
        "77 Bay Rd",
    )
    assert (lead.property_zip, lead.bedrooms, lead.motivation, lead.timeline) == (
        "78704",
        3,
        "relocation",
        "90_days",
    )
    comma = LeadIn.model_validate(
        {**GOOD, "first_name": None, "last_name": None, "name": "Smith, John"}
    )
    assert (comma.first_name, comma.last_name) == ("John", "Smith")
    # our own column wins over an alias
    assert LeadIn.model_validate({**GOOD, "zip": "10001"}).property_zip == "78701"


def test_unrecognised_consent_is_a_warning():
    raw = {**GOOD, "consent_sms": "maybe later"}
    lead = LeadIn.model_validate(raw)
    assert lead.consent_sms is None
    assert lead.warnings(raw) == [
        "consent_sms: unrecognised value 'maybe later' stored as not given"
    ]
