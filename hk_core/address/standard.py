"""Property addresses in one standard form (USPS Publication 28 style), with a join key.

Sellers type "123 North Main Street Apt 4" or "123 n main st #4"; the county roll says
"123 N MAIN ST UNIT 4". ``standardize`` tags the street with usaddress, spells each part the
USPS way and builds ``key`` so that all of those give one string. See docs/enrichment.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hk_core.geo import STATES, parse_state, parse_zip

from .parts import PARSE_CACHE_SIZE, parse_street, street_line_of
from .text import clean_text, tagger_text, without_repeated_place

_STATE_NAMES = {name.upper().replace(".", "") for name in STATES.values()}


@dataclass(frozen=True, slots=True)
class StandardAddress:
    number: str
    predirectional: str | None
    street_name: str
    suffix: str | None
    postdirectional: str | None
    unit: str | None
    city: str | None
    state: str | None
    zip5: str | None
    line1: str
    key: str

    @property
    def street_line(self) -> str:
        """The building's line: ``line1`` without the unit."""
        return street_line_of(
            self.number, self.predirectional, self.street_name, self.suffix, self.postdirectional
        )

    @property
    def area(self) -> str | None:
        return area_of(self.zip5, self.city, self.state)


def area_of(zip5: str | None, city: str | None, state: str | None) -> str | None:
    """Where a street is: the ZIP when known, else "CITY/ST"; None when neither."""
    if zip5:
        return zip5
    if city and state:
        return f"{city}/{state}"
    return None


def zip5_of(raw: object) -> str | None:
    try:
        parsed = parse_zip(raw)
    except (ValueError, TypeError):
        return None
    return parsed[:5] if parsed else None


def state_code(raw: object) -> str | None:
    try:
        return parse_state(raw)
    except (ValueError, TypeError):
        return None


def _city(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    return clean_text(raw) or None


def address_key(area: str | None, street_line: str, unit: str | None) -> str:
    """``AREA|STREET LINE|UNIT``: the unit field is empty, never dropped, so "123 MAIN ST" and
    "123 MAIN ST #4" are different keys."""
    return f"{area or ''}|{street_line}|{unit or ''}"


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def standardize(
    street: str | None,
    city: str | None = None,
    state: str | None = None,
    zip_code: str | None = None,
) -> StandardAddress | None:
    """The standard form of a property address, or None without a house number and street."""
    if not isinstance(street, str):
        return None
    given_zip, given_state, given_city = zip5_of(zip_code), state_code(state), _city(city)
    text = tagger_text(street)
    if given_zip or given_state or given_city:
        text = without_repeated_place(text, given_city, given_state, given_zip, _STATE_NAMES)
    parts = parse_street(text)
    if parts is None:
        return None
    zip5 = given_zip or zip5_of(parts.zip_code)
    state = given_state or state_code(parts.state)
    city_name = given_city or _city(parts.city)
    street_line = parts.street_line
    # Pub 28's designator-neutral "#" before each identifier: "123 MAIN ST # 4", "… # B # 8A".
    line1 = street_line + "".join(f" # {part}" for part in (parts.unit or "").split("-") if part)
    return StandardAddress(
        number=parts.number,
        predirectional=parts.predirectional,
        street_name=parts.street_name,
        suffix=parts.suffix,
        postdirectional=parts.postdirectional,
        unit=parts.unit,
        city=city_name,
        state=state,
        zip5=zip5,
        line1=line1,
        key=address_key(area_of(zip5, city_name, state), street_line, parts.unit),
    )
