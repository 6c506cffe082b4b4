"""Issue 18's table, row by row: inputs once stored silently wrong, now stored as meant or
refused with the field named."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from hk_core.contract import LeadIn
from hk_core.enrichment import check_email, check_phone, standardize
from hk_core.parsing import CSV_CELLS
from hk_core.pii import PiiHasher
from hk_core.records import field_errors

GOOD = {
    "source": "web", "external_id": "R-1", "first_name": "Ann", "last_name": "Lee",
    "email": "ann@example.com", "property_street": "1 Oak St", "property_zip": "78701",
}  # fmt: skip


def lead(**changes) -> LeadIn:
    return LeadIn.model_validate({**GOOD, **changes})


def refusal(**changes) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**GOOD, **changes})
    return dict(field_errors(info.value))


# ---------------------------------------------------------------- money and numbers


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("1 000,00", "1000.00"),
        ("1 000 000,00", "1000000.00"),
        ("1\u00a0000,00", "1000.00"),  # a no-break space, as spreadsheets write it
        ("1,000.00", "1000.00"),
        ("1.000,00", "1000.00"),
        ("1.000.000", "1000000.00"),
        ("$1,000", "1000.00"),
        ("250,000 USD", "250000.00"),
        ("$250K", "250000.00"),
        ("1k", "1000.00"),
        ("1.2m", "1200000.00"),
        ("1,2 million", "1200000.00"),
        ("199999.99", "199999.99"),
        ("-0", "0.00"),
    ],
)
def test_asking_price_is_read_as_meant(typed, meant):
    assert lead(asking_price=typed).asking_price == Decimal(meant)


@pytest.mark.parametrize("typed", ["1.000", "250.000", "1,250k", "1.500m", "1 000,000"])
def test_ambiguous_money_is_refused_naming_the_field(typed):
    errors = refusal(asking_price=typed)
    assert "ambiguous" in errors["asking_price"]


@pytest.mark.parametrize("typed", ["1,00,000", "12.34.5", "1,000,00"])
def test_malformed_groups_are_refused(typed):
    assert "not a number" in refusal(mortgage_balance=typed)["mortgage_balance"]


@pytest.mark.parametrize(
    ("field", "typed", "meant"),
    [
        ("bathrooms", "-0", 0.0),
        ("bathrooms", "2,5", 2.5),  # a decimal comma, not 25 bathrooms
        ("bedrooms", "-0", 0),
        ("square_feet", "1 850", 1850),
        ("square_feet", "1,850 sq ft", 1850),
    ],
)
def test_numbers_are_read_as_meant(field, typed, meant):
    value = getattr(lead(**{field: typed}), field)
    assert value == meant and str(value) == str(meant)  # -0.0 would print as "-0.0"


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("property_zip", "１２３"),  # full-width
        ("property_zip", "١٢٣"),  # Arabic-Indic
        ("property_zip", "7870١"),  # mixed scripts
        ("received_at", "٠١٢٣٤٥٦٧٨٩"),  # would have been read as epoch seconds
        ("received_at", "٢٠٢٥-٠١-٠٢"),
        ("asking_price", "٢٥٠٠٠٠"),
        ("bedrooms", "３"),
    ],
)
def test_non_ascii_digits_are_refused_naming_the_field(field, typed):
    assert "digits other than 0-9" in refusal(**{field: typed})[field]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("60642—2534", "60642-2534"), ("60642–2534", "60642-2534"), ("11201.", "11201")],
)
def test_zip_with_a_long_dash_or_a_trailing_dot(typed, meant):
    assert lead(property_zip=typed).property_zip == meant


# ---------------------------------------------------------------- placeholders


def test_first_name_null_in_json_is_a_name():
    assert lead(first_name="NULL").first_name == "NULL"
    assert lead(last_name="None").last_name == "None"
    as_csv = LeadIn.model_validate({**GOOD, "first_name": "NULL"}, context=CSV_CELLS)
    assert as_csv.first_name is None


# ---------------------------------------------------------------- contacts


def test_phone_555_0142_gets_no_e164():
    assert PiiHasher("k").contact_keys(None, "555-0142").phone_e164 is None
    check = check_phone("555-0142")
    assert (check.e164, check.is_valid) == (None, False)
    assert PiiHasher("k").contact_keys(None, "(512) 555-0147").phone_e164 == "+15125550147"


def test_email_local_part_over_64_is_not_an_address():
    long_local = "a" * 65 + "@example.com"
    assert check_email(long_local).is_valid is False
    assert PiiHasher("k").contact_keys(long_local, None).email_normalized is None
    assert check_email("a" * 64 + "@example.com").is_valid is True
    # Surrounding whitespace is stripped before the check (docs/data-contracts.md).
    assert check_email("  ann@example.com\t").normalized == "ann@example.com"


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "street",
    ["0 E WARDELL DR # APT 3", "0 E Wardell Dr #3", "0 E Wardell Dr APT #3", "0 E Wardell Dr Apt. 3",
     "0 E Wardell Dr, Apt 3", "0 E Wardell Dr UNIT 3", "0 E Wardell Dr STE 3", "0 E Wardell Dr LOT 3",
     "0 East Wardell Drive Apartment 3", "0 E Wardell Dr # 3"],
)  # fmt: skip
def test_units_are_kept_in_the_key(street):
    flat = standardize(street, zip_code="48202")
    building = standardize("0 E Wardell Dr", zip_code="48202")
    assert flat is not None and building is not None
    assert (flat.unit, flat.key) == ("3", "48202|0 E WARDELL DR|3")
    assert building.key == "48202|0 E WARDELL DR|" != flat.key


def test_one_line_address_with_a_post_directional():
    address = standardize("2101 1st Avenue North, Pell City, AL")
    assert address is not None
    assert (address.street_line, address.city, address.state) == (
        "2101 1ST AVE N",
        "PELL CITY",
        "AL",
    )


def test_one_line_address_with_a_spelled_out_state():
    address = standardize("200 EAST ELM, DENVER, COLORADO")
    assert address is not None
    assert (address.street_line, address.city, address.state) == ("200 E ELM", "DENVER", "CO")


def test_one_line_address_with_zip_and_unit():
    address = standardize("123 N. Main St., Apt 4, Austin, TX 78701-1234")
    assert address is not None
    assert (address.key, address.city) == ("78701|123 N MAIN ST|4", "AUSTIN")


@pytest.mark.parametrize(
    "street",
    ["1234 West US Highway 50", "1234 W US Hwy 50", "1234 W. U.S. Highway 50", "1234 w us hwy 50"],
)
def test_highway_forms_share_one_key(street):
    address = standardize(street, zip_code="95667")
    assert address is not None and address.key == "95667|1234 W US HWY 50|"


def test_repeated_city_state_zip_in_the_street_line_is_not_street():
    given = standardize("12 Main St, Austin, TX 78701", "Austin", "TX", "78701")
    plain = standardize("12 Main St", "Austin", "TX", "78701")
    assert given is not None and plain is not None and given.key == plain.key
    # ...but a street named like the city keeps its name.
    houston = standardize("100 W Houston", "Houston", "TX", "77002")
    assert houston is not None and houston.street_name == "HOUSTON"


@pytest.mark.parametrize(
    "street",
    ["2101 1st Avenue North, Pell City, AL", "12 Main St Austin TX 78701", "9 Elm St, 11201."],
)
def test_a_lead_with_the_whole_address_in_the_street_line_is_taken(street):
    one_line = LeadIn.model_validate({**GOOD, "property_zip": None, "property_street": street})
    assert one_line.property_street == street  # kept as sent
    assert (one_line.property_city, one_line.property_state, one_line.property_zip) == (None,) * 3
    assert "property_zip" in refusal(property_zip=None, property_street="12 Main St")
