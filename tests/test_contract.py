"""The lead contract: what is refused, what is normalised, and what is merely flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from hk_core.contract import LeadIn, PropertyRecordIn, StageEventIn
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
