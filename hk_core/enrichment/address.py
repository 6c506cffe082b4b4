"""Property addresses in one standard form (USPS Publication 28 style), with a join key.

Sellers type "123 North Main Street Apt 4" or "123 n main st #4"; the county roll says
"123 N MAIN ST UNIT 4". ``standardize`` tags the street with usaddress, spells each part the
USPS way and builds ``key`` so that all of those give one string. See docs/enrichment.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import usaddress

from hk_core.geo import parse_state, parse_zip

from .usps import DIRECTIONALS, SUFFIXES, UNIT_DESIGNATORS

# Periods vanish ("N.E." is "NE", "St." is "ST"); other punctuation separates words.
_DROP = str.maketrans("", "", ".'`")
_SEPARATORS = re.compile(r"[,;:()\[\]{}\"\\|_]+")
_SPACES = re.compile(r"\s+")
_UNIT_JUNK = re.compile(r"[#\s\-]+")
_HOUSE_NUMBER = re.compile(r"^\d+[A-Z]?$")
_PARSE_CACHE_SIZE = 262_144
_LABELS_WE_USE = {
    "AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "StreetNamePostModifier", "OccupancyType",
    "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier", "PlaceName", "StateName",
    "ZipCode",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StreetParts:
    """The standardised parts of one street line, before the city, state and ZIP."""

    number: str
    predirectional: str | None
    street_name: str
    suffix: str | None
    postdirectional: str | None
    unit: str | None
    # What usaddress found after the street, used when the caller gave no city/state/ZIP.
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None

    @property
    def street_line(self) -> str:
        """Number, directionals, name and suffix: the building, without the unit."""
        parts = (self.number, self.predirectional, self.street_name, self.suffix,
                 self.postdirectional)  # fmt: skip
        return " ".join(p for p in parts if p)


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
        parts = (self.number, self.predirectional, self.street_name, self.suffix,
                 self.postdirectional)  # fmt: skip
        return " ".join(p for p in parts if p)

    @property
    def area(self) -> str | None:
        """Where the street is: the ZIP when known, else "CITY/ST"; None when neither."""
        if self.zip5:
            return self.zip5
        if self.city and self.state:
            return f"{self.city}/{self.state}"
        return None


def clean_text(text: str) -> str:
    """Upper case, periods dropped, separators turned into single spaces."""
    text = _SEPARATORS.sub(" ", text.translate(_DROP).upper())
    return _SPACES.sub(" ", text).strip()


def _unit_id(text: str) -> str | None:
    unit = _UNIT_JUNK.sub("", text)
    return unit or None


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def parse_street(cleaned: str) -> StreetParts | None:
    """Tag a cleaned street line; None without both a house number and a street name."""
    if not cleaned or not any(ch.isdigit() for ch in cleaned):
        return None
    try:
        # parse() rather than tag(): tag() raises RepeatedLabelError on "APT 4 APT 5" and the
        # like, while the first run of each label is all we need.
        tokens = usaddress.parse(cleaned)
    except Exception:  # usaddress/crfsuite on pathological input: treat as unparseable
        return None
    if (
        tokens
        and _HOUSE_NUMBER.match(tokens[0][0])
        and all(label != "AddressNumber" for _, label in tokens)
    ):
        # "941 Ridge" comes back as street name "941" and suffix "RIDGE".
        tokens[0] = (tokens[0][0], "AddressNumber")
    found: dict[str, list[str]] = {}
    closed: set[str] = set()
    previous = None
    for token, label in tokens:
        if label not in _LABELS_WE_USE:
            previous = label
            continue
        if label != previous and label in found:
            closed.add(label)
        if label not in closed:
            found.setdefault(label, []).append(token)
        previous = label
    return _standard_parts(found)


def _standard_parts(found: dict[str, list[str]]) -> StreetParts | None:
    def words(label: str) -> str:
        return " ".join(found.get(label, ()))

    number = " ".join(
        w for w in (words("AddressNumberPrefix"), words("AddressNumber"),
                    words("AddressNumberSuffix")) if w
    )  # fmt: skip
    predir_text = words("StreetNamePreDirectional")
    predir = DIRECTIONALS.get(predir_text)
    pre_type = words("StreetNamePreType")  # "Highway" of "Highway 290"
    name_words = [words("StreetNamePreModifier"), SUFFIXES.get(pre_type, pre_type)]
    if predir_text and predir is None:  # "Old" or the like tagged as a direction
        name_words.insert(0, predir_text)
    name_words.append(words("StreetName"))
    name = " ".join(w for w in name_words if w)
    suffix_text = words("StreetNamePostType")
    suffix = SUFFIXES.get(suffix_text, suffix_text) or None
    postdir_text = words("StreetNamePostDirectional")
    postdir = DIRECTIONALS.get(postdir_text)
    if postdir_text and postdir is None:
        suffix = " ".join(w for w in (suffix, postdir_text) if w)
    if not name:
        # "123 North St" can come back as a direction plus a suffix: the direction is the name.
        if predir and suffix:
            name, predir = predir_text, None
        elif suffix:
            name, suffix = suffix_text, None
    if not number or not name or not any(ch.isdigit() for ch in number):
        return None
    unit_text = words("OccupancyIdentifier") or words("SubaddressIdentifier")
    unit = _unit_id(unit_text) if unit_text else None
    if unit is not None and unit in UNIT_DESIGNATORS:
        unit = None
    return StreetParts(
        number=number,
        predirectional=predir,
        street_name=name,
        suffix=suffix,
        postdirectional=postdir,
        unit=unit,
        city=words("PlaceName") or None,
        state=words("StateName") or None,
        zip_code=words("ZipCode") or None,
    )


def _zip5(raw: object) -> str | None:
    try:
        parsed = parse_zip(raw)
    except (ValueError, TypeError):
        return None
    return parsed[:5] if parsed else None


def _state(raw: object) -> str | None:
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


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def standardize(
    street: str | None,
    city: str | None = None,
    state: str | None = None,
    zip_code: str | None = None,
) -> StandardAddress | None:
    """The standard form of a property address, or None without a house number and street."""
    if not isinstance(street, str):
        return None
    parts = parse_street(clean_text(street))
    if parts is None:
        return None
    zip5 = _zip5(zip_code) or _zip5(parts.zip_code)
    state_code = _state(state) or _state(parts.state)
    city_name = _city(city) or _city(parts.city)
    street_line = parts.street_line
    line1 = f"{street_line} # {parts.unit}" if parts.unit else street_line
    area = zip5 or (f"{city_name}/{state_code}" if city_name and state_code else None)
    return StandardAddress(
        number=parts.number,
        predirectional=parts.predirectional,
        street_name=parts.street_name,
        suffix=parts.suffix,
        postdirectional=parts.postdirectional,
        unit=parts.unit,
        city=city_name,
        state=state_code,
        zip5=zip5,
        line1=line1,
        key=address_key(area, street_line, parts.unit),
    )
