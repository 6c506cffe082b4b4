"""US states and ZIP codes as people type them."""

from __future__ import annotations

import re
from typing import Any

from hk_core.parsing import ascii_digits, missing_to_none, no_nul

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico", "GU": "Guam", "VI": "U.S. Virgin Islands",
}  # fmt: skip
_BY_NAME = {name.lower().replace(".", ""): code for code, name in STATES.items()}
_BY_NAME.update({"washington dc": "DC", "d c": "DC", "virgin islands": "VI"})
_ZIP_RE = re.compile(r"^([0-9]{3,5})(?:[-\s]?([0-9]{4}))?$")
# Hyphen look-alikes word processors and phones put between ZIP and ZIP+4 ("60642—2534").
_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d", "-")
)


def parse_state(value: Any) -> str | None:
    value = missing_to_none(value)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    text = no_nul(value).strip().replace(".", "").upper()
    if text in STATES:
        return text
    code = _BY_NAME.get(" ".join(text.lower().split()))
    if code is None:
        raise ValueError(f"unknown US state {value[:40]!r}")
    return code


def parse_zip(value: Any) -> str | None:
    """'78701', '78701-1234', '787011234', '60642—2534', '11201.', and '2134' (a leading zero
    lost to a spreadsheet). Only ASCII digits: '１２３' is refused, not stored."""
    value = missing_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a ZIP code, got a boolean")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a ZIP code, got {type(value).__name__}")
    text = no_nul(value).strip()
    if not text.isascii():
        text = ascii_digits(text).translate(_DASHES)
    if text.endswith(".0"):  # spreadsheets turn ZIPs into floats
        text = text[:-2]
    elif text.endswith("."):  # "11201." at the end of a typed address line
        text = text[:-1]
    match = _ZIP_RE.match(text)
    if not match:
        raise ValueError(f"not a US ZIP code: {value[:40]!r}")
    five = match.group(1).zfill(5)
    return f"{five}-{match.group(2)}" if match.group(2) else five
