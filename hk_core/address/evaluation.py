"""How well ``standardize`` reads addresses, measured on labelled data in usaddress's XML form.

Each ``<AddressString>`` holds an address whose tokens are tagged (``<AddressNumber>``,
``<StreetName>``, ``<PlaceName>`` …). From it we build what a lead form would send — the street
line alone, or the whole address on one line — and the expected parts, spelled the USPS way with
the same tables ``standardize`` uses, then compare part by part. docs/enrichment.md has the
figures and how the addresses are chosen.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .parts import standard_parts
from .standard import StandardAddress, standardize, state_code, zip5_of
from .tagged import collect
from .text import clean_text, directional, tagger_text, token_word
from .usps import DIRECTION_WORDS, SUFFIX_WORDS, SUFFIXES

STREET_LABELS = (
    "AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "StreetNamePostModifier", "OccupancyType", "OccupancyIdentifier",
    "SubaddressType", "SubaddressIdentifier",
)  # fmt: skip
PLACE_LABELS = ("PlaceName", "StateName", "ZipCode")
# Labelled addresses with these parts are not one property's street address (PO boxes,
# street corners, text that is no address): standardize rightly refuses or cannot key them.
_NOT_A_PROPERTY = {"USPSBoxType", "USPSBoxID", "USPSBoxGroupType", "USPSBoxGroupID",
                   "IntersectionSeparator", "CornerOf", "NotAddress"}  # fmt: skip


# Unit designators in both forms, for the abbreviated/spelled-out variants.
_DESIGNATOR_WORDS = {"APT": "APARTMENT", "STE": "SUITE", "BLDG": "BUILDING", "FL": "FLOOR",
                     "RM": "ROOM", "SPC": "SPACE", "TRLR": "TRAILER", "DEPT": "DEPARTMENT",
                     "OFC": "OFFICE", "PH": "PENTHOUSE"}  # fmt: skip
_DESIGNATOR_ABBREVIATIONS = {word: abbr for abbr, word in _DESIGNATOR_WORDS.items()}


@dataclass(frozen=True, slots=True)
class LabelledAddress:
    street_line: str  # the street part as it was typed, units included
    one_line: str  # street, city, state and ZIP as typed, on one line
    expected: dict[str, str | None]  # the parts, USPS-spelled
    source: str  # file:index, for test ids and failure messages
    abbreviated: str  # the street line with every suffix, direction and designator abbreviated
    spelled_out: str  # ... and with each of them written out in full


def _expected_parts(tokens: list[tuple[str, str]]) -> dict[str, str | None] | None:
    """The labelled parts read by the same rules as the tagger's answer (``collect`` and
    ``standard_parts``), so only the tagging is judged; None when the labels hold no house
    number and street name that ``standardize`` could ever return ("Mile K Beach Road")."""
    parts = standard_parts(collect([(tagger_text(text), label) for label, text in tokens]))
    if parts is None:
        return None
    return {
        "number": parts.number,
        "predirectional": parts.predirectional,
        "street_name": parts.street_name,
        "suffix": parts.suffix,
        "postdirectional": parts.postdirectional,
        "unit": parts.unit,
        "city": clean_text(parts.city) if parts.city else None,
        "state": state_code(parts.state),
        "zip5": zip5_of(parts.zip_code),
    }


def _typed(parts: list[tuple[str, str, str]]) -> str:
    return "".join(text + tail for _, text, tail in parts).strip().rstrip(",").strip()


def _variant(label: str, text: str, spelled: bool) -> str:
    """One labelled token in its USPS abbreviation or its full word (punctuation kept)."""
    word = token_word(tagger_text(text))
    end = "," if text.rstrip().endswith(",") else ""
    if label in ("StreetNamePostType", "StreetNamePreType") and word in SUFFIXES:
        standard = SUFFIXES[word]
        return (SUFFIX_WORDS[standard].title() if spelled else standard) + end
    if label in ("StreetNamePreDirectional", "StreetNamePostDirectional"):
        direction = directional(word)
        if direction:
            return (DIRECTION_WORDS[direction].title() if spelled else direction) + end
    if label in ("OccupancyType", "SubaddressType"):
        if spelled and word in _DESIGNATOR_WORDS:
            return _DESIGNATOR_WORDS[word].title() + end
        if not spelled and word in _DESIGNATOR_ABBREVIATIONS:
            return _DESIGNATOR_ABBREVIATIONS[word] + end
    return text


def _variants(street: list[tuple[str, str, str]], spelled: bool) -> str:
    # A direction typed in two tokens ("S. E.") is one directional: merged before rewriting.
    merged: list[tuple[str, str, str]] = []
    for tag, text, tail in street:
        if merged and tag.endswith("Directional") and merged[-1][0] == tag:
            merged[-1] = (tag, merged[-1][1] + merged[-1][2] + text, tail)
        else:
            merged.append((tag, text, tail))
    return _typed([(tag, _variant(tag, text, spelled), tail) for tag, text, tail in merged])


def read_labelled(path: Path) -> Iterator[LabelledAddress]:
    """The property street addresses of one usaddress-style XML file."""
    root = ET.parse(path).getroot()
    for index, element in enumerate(root.iter("AddressString")):
        parts = [(child.tag, child.text or "", child.tail or "") for child in element]
        labels = {tag for tag, _, _ in parts}
        if labels & _NOT_A_PROPERTY or not {"AddressNumber", "StreetName"} <= labels:
            continue
        street = [p for p in parts if p[0] in STREET_LABELS]
        place = [p for p in parts if p[0] in PLACE_LABELS]
        expected = _expected_parts([(tag, text) for tag, text, _ in street + place])
        if expected is None:
            continue
        yield LabelledAddress(
            street_line=_typed(street),
            one_line=_typed(street + place),
            expected=expected,
            source=f"{path.name}:{index}",
            abbreviated=_variants(street, spelled=False),
            spelled_out=_variants(street, spelled=True),
        )


_KEY_ZIP = "10001"  # any one ZIP: the key's area must not decide whether two lines agree
STREET_PARTS = ("number", "predirectional", "street_name", "suffix", "postdirectional", "unit")
PLACE_PARTS = ("city", "state", "zip5")


def differences(
    address: StandardAddress | None, expected: dict[str, str | None], parts: tuple[str, ...]
) -> dict[str, tuple[str | None, str | None]]:
    """Part -> (expected, got) for every part that differs; empty when all match."""
    got = {part: getattr(address, part) if address else None for part in parts}
    return {p: (expected[p], got[p]) for p in parts if (expected[p] or None) != (got[p] or None)}


@dataclass
class Accuracy:
    addresses: int = 0
    street_line_ok: int = 0
    one_line_ok: int = 0
    same_key: int = 0  # the abbreviated and the spelled-out street line give one key

    @property
    def same_key_rate(self) -> float:
        return self.same_key / self.addresses if self.addresses else 0.0

    @property
    def street_line_rate(self) -> float:
        return self.street_line_ok / self.addresses if self.addresses else 0.0

    @property
    def one_line_rate(self) -> float:
        return self.one_line_ok / self.addresses if self.addresses else 0.0


def measure(
    addresses: list[LabelledAddress],
    on_miss: Callable[[str, LabelledAddress, dict], None] | None = None,
) -> Accuracy:
    """Street-line-only parsing judged on the street parts; one-line parsing on all parts."""
    accuracy = Accuracy()
    for labelled in addresses:
        accuracy.addresses += 1
        street = differences(standardize(labelled.street_line), labelled.expected, STREET_PARTS)
        whole = differences(
            standardize(labelled.one_line), labelled.expected, STREET_PARTS + PLACE_PARTS
        )
        accuracy.street_line_ok += not street
        accuracy.one_line_ok += not whole
        short = standardize(labelled.abbreviated, zip_code=_KEY_ZIP)
        long = standardize(labelled.spelled_out, zip_code=_KEY_ZIP)
        same = short is not None and long is not None and short.key == long.key
        accuracy.same_key += same
        if on_miss is not None and not same:
            on_miss("same_key", labelled, {"key": (short and short.key, long and long.key)})
        if on_miss is not None:
            if street:
                on_miss("street_line", labelled, street)
            if whole:
                on_miss("one_line", labelled, whole)
    return accuracy
