"""usaddress's answer as words by label, with the tagger's known slips on lead-form text put
right (a unit number taken for a ZIP, a designator for a city, a direction in the wrong place).
``parts.standard_parts`` then spells the words the USPS way; docs/enrichment.md lists the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hk_core.geo import STATES

from .text import directional, token_word
from .usps import UNIT_DESIGNATORS

HOUSE_NUMBER = re.compile(r"^\d+[A-Z]?$")
_LABELS_WE_USE = {
    "AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "StreetNamePostModifier", "OccupancyType",
    "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier", "PlaceName", "StateName",
    "ZipCode",
}  # fmt: skip
UNIT_TYPES = {"OccupancyType", "SubaddressType"}
UNIT_IDS = {"OccupancyIdentifier", "SubaddressIdentifier"}
_UNIT_WORDS = UNIT_DESIGNATORS - set(STATES) - {"#", "NO", "NUMBER"}


@dataclass(slots=True)
class TaggedWords:
    """usaddress's answer as words by label (the first run of each label), and the unit's
    identifier runs."""

    by_label: dict[str, list[str]]
    unit_runs: list[list[str]]
    bare_unit: bool = False  # the first identifier came without a designator or '#'
    late_suffix: str | None = None  # "Otter Crk S Rd": a second post-type after the direction
    type_before_direction: bool = False  # "Ave E": the post-type came before the direction

    def words(self, label: str) -> str:
        return " ".join(self.by_label.get(label, ()))


def _relabelled(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(word, label) pairs with the tagger's known slips put right: five digits after '#' are
    a unit ("# 50430"), a pre-directional after the street is a post-directional ("Peachtree
    Rd., N.E."), and a lone direction between the suffix and the city is the street's
    ("Boulevard, Northwest", "1st Avenue, North, Pell City")."""
    pairs = [(token_word(token), label) for token, label in tokens]
    pairs = [(word, label) for word, label in pairs if word]
    out: list[tuple[str, str]] = []
    street_seen = building = False
    for i, (word, label) in enumerate(pairs):
        before = out[-1] if out else ("", "")
        after = pairs[i + 1][1] if i + 1 < len(pairs) else ""
        if label in ("PlaceName", "StateName") and word in _UNIT_WORDS:  # "Street Unit 17771"
            label = "OccupancyType"
        elif label in UNIT_TYPES and word not in UNIT_DESIGNATORS and not street_seen:
            label = "StreetName"  # "321 North Clark, 2800": the name taken for a designator
        elif label == "BuildingName" and (not street_seen or building):  # "1317 Lindbergh Plaza"
            label = "AddressNumber" if not out and HOUSE_NUMBER.match(word) else "StreetName"
            building = True
        if label == "ZipCode" and (before[0] == "#" or before[1] in UNIT_TYPES):
            label = "OccupancyIdentifier"
        elif (
            label == "StreetNamePreDirectional"
            and street_seen
            or (
                label == "PlaceName"
                and after != "PlaceName"
                and before[1] == "StreetNamePostType"
                and directional(word)
            )
        ):
            label = "StreetNamePostDirectional"
        elif label == "StreetName":
            word = word.lstrip("#") or word  # "State Highway #50"
        street_seen = street_seen or label in ("StreetName", "StreetNamePostType")
        out.append((word, label))
    return out


def collect(tokens: list[tuple[str, str]]) -> TaggedWords:
    """Words by label from tagged tokens. Only the first run of a label counts (usaddress.tag
    would raise RepeatedLabelError). Units: every identifier, a designator starting the next
    one ("14th Floor, Room 1418" is 14TH-1418), until a designator repeats ("APT 4 APT 5" is
    unit 4); a lone '#' is no identifier ("# APT 3" and "APT #3" are unit 3)."""
    found: dict[str, list[str]] = {}
    runs: list[list[str]] = []
    designators: set[str] = set()
    closed: set[str] = set()
    previous = None
    units_done = bare = type_first = False
    late: str | None = None
    for word, label in _relabelled(tokens):
        if label == "StreetNamePostDirectional" and "StreetNamePostType" in found:
            type_first = True
        if label not in _LABELS_WE_USE:
            previous = label
            continue
        if label in UNIT_TYPES or label in UNIT_IDS:
            if word == "#" or units_done:
                previous = "#" if word == "#" else previous
                continue
            if label in UNIT_TYPES or word in UNIT_DESIGNATORS:
                units_done = word in designators
                designators.add(word)
                runs.append([])
            elif label in UNIT_IDS:
                if not runs or previous not in UNIT_IDS:
                    bare = bare or not runs and previous != "#"
                    runs.append([])
                runs[-1].append(word)
            previous = label
            continue
        if word == "#" and label == "AddressNumberPrefix":
            continue
        if label != previous and label in found:
            closed.add(label)
            if label == "StreetNamePostType" and previous == "StreetNamePostDirectional":
                late = word
        if label not in closed:
            found.setdefault(label, []).append(word)
        previous = label
    return TaggedWords(found, [run for run in runs if run], bare_unit=bare,
                       late_suffix=late, type_before_direction=type_first)  # fmt: skip
