"""How well ``standardize`` reads addresses, measured on labelled data in usaddress's XML form.

Each ``<AddressString>`` holds an address whose tokens are tagged (``<AddressNumber>``,
``<StreetName>``, ``<PlaceName>`` …). From it we build what a lead form would send — the street
line alone, or the whole address on one line — and the expected parts, spelled the USPS way with
the same tables ``standardize`` uses, then compare part by part. docs/enrichment.md has the
figures and how the addresses are chosen.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hk_core.geo import parse_state

from .address import StandardAddress, clean_text, standardize
from .usps import DIRECTIONALS, SUFFIXES, UNIT_DESIGNATORS

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


@dataclass(frozen=True, slots=True)
class LabelledAddress:
    street_line: str  # the street part as it was typed, units included
    one_line: str  # street, city, state and ZIP as typed, on one line
    expected: dict[str, str | None]  # the parts, USPS-spelled
    source: str  # file:index, for test ids and failure messages


def _clean(text: str) -> str:
    return clean_text(text).strip(" ,#")


def _expected_parts(tokens: list[tuple[str, str]]) -> dict[str, str | None]:
    by_label: dict[str, list[str]] = {}
    for label, text in tokens:
        word = _clean(text)
        if word:
            by_label.setdefault(label, []).append(word)

    def words(label: str) -> str:
        return " ".join(by_label.get(label, ()))

    number = " ".join(w for w in (words("AddressNumberPrefix"), words("AddressNumber"),
                                  words("AddressNumberSuffix")) if w)  # fmt: skip
    predir_text = words("StreetNamePreDirectional")
    predir = DIRECTIONALS.get(predir_text)
    pre_type = words("StreetNamePreType")
    name_words = [words("StreetNamePreModifier"), SUFFIXES.get(pre_type, pre_type),
                  words("StreetName")]  # fmt: skip
    if predir_text and predir is None:
        name_words.insert(0, predir_text)
    suffix_text = words("StreetNamePostType")
    postdir_text = words("StreetNamePostDirectional")
    unit_text = words("OccupancyIdentifier") or words("SubaddressIdentifier")
    unit_words = [w for w in re.split(r"[#\s-]+", unit_text) if w and w not in UNIT_DESIGNATORS]
    state_text = words("StateName")
    try:
        state = parse_state(state_text) if state_text else None
    except ValueError:
        state = state_text
    zip_digits = words("ZipCode").replace(" ", "")
    return {
        "number": number or None,
        "predirectional": predir,
        "street_name": " ".join(w for w in name_words if w) or None,
        "suffix": SUFFIXES.get(suffix_text, suffix_text) or None,
        "postdirectional": DIRECTIONALS.get(postdir_text, postdir_text or None),
        "unit": "".join(unit_words) or None,
        "city": words("PlaceName") or None,
        "state": state,
        "zip5": zip_digits[:5] or None,
    }


def _typed(parts: list[tuple[str, str, str]]) -> str:
    return "".join(text + tail for _, text, tail in parts).strip().rstrip(",").strip()


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
        yield LabelledAddress(
            street_line=_typed(street),
            one_line=_typed(street + place),
            expected=_expected_parts([(tag, text) for tag, text, _ in street + place]),
            source=f"{path.name}:{index}",
        )


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
        if on_miss is not None:
            if street:
                on_miss("street_line", labelled, street)
            if whole:
                on_miss("one_line", labelled, whole)
    return accuracy
