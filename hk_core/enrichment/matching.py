"""Finding a lead's parcel among county records at the same house number and area.

Candidates share the area (ZIP, or city and state) and the house number, so the rules can be
lenient without joining two houses: an exact standard line first, then a line that only lacks a
suffix or a directional, then a close spelling, and a unit-less building for a unit the roll does
not split. Every lenient rule must pick exactly one candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Generic, TypeVar

from rapidfuzz import fuzz

from hk_core.address import StandardAddress
from hk_core.address.usps import SUFFIX_WORDS

Item = TypeVar("Item")
FUZZY_MIN_SCORE = 88.0  # one typo in a short street name still passes; a different name does not
FUZZY_MARGIN = 5.0  # the best candidate must beat the runner-up by this much


def house_number(address: StandardAddress) -> str:
    """The first word of the house number ("123" of "123 1/2"): how the roll is searched."""
    return address.number.split()[0]


def _names(address: StandardAddress) -> set[str]:
    """The street name, and the name with its suffix spelled out ("ROCK" + "CRK" is "ROCK CREEK")."""
    names = {address.street_name}
    if address.suffix:
        names.add(f"{address.street_name} {SUFFIX_WORDS.get(address.suffix, address.suffix)}")
    return names


def _same_or_missing(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _loosely_same(lead: StandardAddress, county: StandardAddress) -> bool:
    """Same street when one side left out the suffix or the directional."""
    if lead.postdirectional != county.postdirectional:
        return False
    if not _same_or_missing(lead.predirectional, county.predirectional):
        return False
    if lead.street_name == county.street_name:
        return _same_or_missing(lead.suffix, county.suffix)
    # "Rock Creek" typed without a suffix, tagged as ROCK + CRK, against the roll's ROCK CREEK ST
    return bool(_names(lead) & _names(county))


def _fuzzy_text(address: StandardAddress, with_directions: bool = True) -> str:
    """The street with its suffix spelled out, so a typo in "Boulevarrd" is one letter away
    from BOULEVARD rather than a different word from BLVD."""
    suffix = SUFFIX_WORDS.get(address.suffix, address.suffix) if address.suffix else None
    parts: tuple[str | None, ...] = (address.street_name, suffix)
    if with_directions:
        parts = (address.predirectional, *parts, address.postdirectional)
    return " ".join(p for p in parts if p)


def _fuzzy_score(lead: StandardAddress, county: StandardAddress) -> float:
    score = fuzz.ratio(_fuzzy_text(lead), _fuzzy_text(county))
    if lead.predirectional is None and lead.postdirectional is None:
        # The seller left the direction out ("971 Maison St" for 971 W MADISON ST).
        score = max(score, fuzz.ratio(_fuzzy_text(lead), _fuzzy_text(county, False)))
    return score


def _directions_conflict(lead: StandardAddress, county: StandardAddress) -> bool:
    """W 9TH DR and S 9TH DR are one letter apart and two different streets."""
    return not (
        _same_or_missing(lead.predirectional, county.predirectional)
        and _same_or_missing(lead.postdirectional, county.postdirectional)
    )


def _pick(
    lead: StandardAddress, candidates: list[tuple[StandardAddress, Item]], *, fuzzy: bool = True
) -> tuple[Item, str] | None:
    exact = [item for county, item in candidates if county.street_line == lead.street_line]
    if exact:
        return exact[0], "exact"
    loose = [item for county, item in candidates if _loosely_same(lead, county)]
    if len(loose) == 1:
        return loose[0], "loose"
    if loose or not fuzzy:
        return None
    scored = sorted(
        (
            (_fuzzy_score(lead, county), i)
            for i, (county, _) in enumerate(candidates)
            if not _directions_conflict(lead, county)
        ),
        reverse=True,
    )
    clear_winner = len(scored) == 1 or (
        len(scored) > 1 and scored[0][0] - scored[1][0] >= FUZZY_MARGIN
    )
    if scored and scored[0][0] >= FUZZY_MIN_SCORE and clear_winner:
        return candidates[scored[0][1]][1], "fuzzy"
    return None


class CountyIndex(Generic[Item]):
    """County records by (area, house number); ``find`` applies the matching rules."""

    def __init__(self) -> None:
        self._by_area: dict[tuple[str, str], list[tuple[StandardAddress, Item]]]
        self._by_area = defaultdict(list)

    def add(self, address: StandardAddress, item: Item) -> None:
        """Index a record under its ZIP and under its city/state."""
        number = house_number(address)
        city_state = f"{address.city}/{address.state}" if address.city and address.state else None
        for area in {address.zip5, city_state}:
            if area is not None:
                self._by_area[(area, number)].append((address, item))

    def find(
        self, lead: StandardAddress, area: str | None = None, *, fuzzy: bool = True
    ) -> tuple[Item, str] | None:
        """The lead's record and the rule that matched ("exact", "loose", "fuzzy",
        "building"), or None. ``area`` defaults to the lead's own; ``fuzzy`` False for wide
        areas (a whole city), where a close spelling is too often another street."""
        area = area or lead.area
        if area is None:
            return None
        # A record loaded both by ZIP and by city is one candidate, not two.
        at_number = list(
            {
                id(item): (c, item) for c, item in self._by_area.get((area, house_number(lead)), [])
            }.values()
        )
        same_unit = [(c, item) for c, item in at_number if c.unit == lead.unit]
        found = _pick(lead, same_unit, fuzzy=fuzzy)
        if found is not None:
            return found
        if lead.unit is not None and not any(c.unit for c, _ in at_number):
            # The roll keeps the building as one parcel (a duplex, a house with a granny flat).
            building = _pick(lead, at_number, fuzzy=fuzzy)
            if building is not None:
                return building[0], "building"
        return None


def matcher(index: CountyIndex[Item]) -> Callable[[StandardAddress], tuple[Item, str] | None]:
    """The lead's ZIP first, then (for a mistyped ZIP) the city and state."""

    def match(lead: StandardAddress) -> tuple[Item, str] | None:
        found = index.find(lead, fuzzy=lead.zip5 is not None)
        if found is None and lead.zip5 and lead.city and lead.state:
            found = index.find(lead, f"{lead.city}/{lead.state}", fuzzy=False)
        return found

    return match
