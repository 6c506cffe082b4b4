"""usaddress's tagged tokens read into the parts of a street line, spelled the USPS way.

``tagged.collect`` reads the tagger's answer (and puts its known slips right);
``standard_parts`` spells the words the USPS way and reads what the tagger left ambiguous the
same way for every spelling of an address, so the key does not depend on whether "Street" or
"St" was typed. docs/enrichment.md lists the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import usaddress

from .tagged import HOUSE_NUMBER, UNIT_IDS, UNIT_TYPES, TaggedWords, collect
from .text import (
    ROAD_WORDS,
    directional,
    highway_words,
    house_number,
    is_house_number,
    pre_type,
    token_word,
    unit_identifier,
)
from .usps import SUFFIX_WORDS, SUFFIXES, UNIT_DESIGNATORS

PARSE_CACHE_SIZE = 262_144
TOKEN_CACHE_SIZE = 65_536
_ROAD_TYPES = {"HWY", "RTE", "FWY", "EXPY"}


def street_line_of(*parts: str | None) -> str:
    """Number, directionals, name and suffix joined: the building's line, without the unit."""
    return " ".join(p for p in parts if p)


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
        return street_line_of(
            self.number, self.predirectional, self.street_name, self.suffix, self.postdirectional
        )


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _token_features(token: str) -> dict[str, Any]:
    """usaddress's features of one token: a pure function of the token, and most of the cost
    of tagging outside the CRF. Never handed out itself: callers get copies."""
    return usaddress.tokenFeatures(token)


def _features(tokens: list[str]) -> list[dict[str, Any]]:
    """``usaddress.tokens2features`` step for step, with each token's own features memoised:
    the CRF gets the very same feature sequence."""
    sequence = [dict(_token_features(tokens[0]))]
    previous = sequence[-1].copy()
    for token in tokens[1:]:
        features = dict(_token_features(token))
        current = features.copy()
        sequence[-1]["next"] = current
        features["previous"] = previous
        sequence.append(features)
        previous = current
    sequence[0]["address.start"] = True
    sequence[-1]["address.end"] = True
    if len(sequence) > 1:
        sequence[1]["previous"]["address.start"] = True
        sequence[-2]["next"]["address.end"] = True
    return sequence


def tag(text: str) -> list[tuple[str, str]]:
    """``usaddress.parse(text)``: the same tokens and labels, the token features memoised."""
    tokens = usaddress.tokenize(text)
    if not tokens:
        return []
    return list(zip(tokens, usaddress.TAGGER.tag(_features(tokens)), strict=False))


def clear_caches() -> None:
    """Forget memoised street readings and token features (a cold start, for benchmarks)."""
    parse_street.cache_clear()
    _token_features.cache_clear()


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_street(text: str) -> StreetParts | None:
    """Tag a street line (as ``tagger_text`` writes it); None without a house number and a
    street name."""
    if not text or not any(ch.isdigit() or ch.isalpha() for ch in text):
        return None
    try:
        # parse() rather than tag(): tag() raises RepeatedLabelError on "APT 4 APT 5" and the
        # like, while the first run of each label is all we need.
        tokens = tag(text)
    except Exception:  # usaddress/crfsuite on pathological input: treat as unparseable
        return None
    # "941 Ridge" comes back as street name "941" and suffix "RIDGE"; "4th Floor 300 E
    # Randolph St" with "300" as the name: the first number after any unit is the house's.
    first = next((i for i, (_, label) in enumerate(tokens)
                  if label not in UNIT_TYPES and label not in UNIT_IDS), None)  # fmt: skip
    if (
        first is not None
        and HOUSE_NUMBER.match(token_word(tokens[first][0]))
        and all(label != "AddressNumber" for _, label in tokens)
    ):
        tokens[first] = (tokens[first][0], "AddressNumber")
    return standard_parts(collect(tokens))


def standard_parts(tagged: TaggedWords) -> StreetParts | None:
    """The USPS spelling of tagged words (also how the accuracy measure reads labelled data)."""
    words = tagged.words
    number = house_number([words("AddressNumberPrefix"), words("AddressNumber"),
                           words("AddressNumberSuffix")])  # fmt: skip
    predir_text = words("StreetNamePreDirectional")
    predir = directional(predir_text)
    name_words = [words("StreetNamePreModifier"), pre_type(words("StreetNamePreType"))]
    if predir_text and predir is None:  # "Old" or the like tagged as a direction
        name_words.insert(0, predir_text)
    name_words.append(words("StreetName"))
    name = highway_words(" ".join(w for w in " ".join(name_words).split(" ") if w and w != "#"))
    suffix_text = words("StreetNamePostType")
    if tagged.late_suffix and tagged.late_suffix in SUFFIXES and suffix_text:
        suffix_text = f"{suffix_text} {tagged.late_suffix}"  # read as one two-word post-type
    if " " in suffix_text:  # "Avalon Ridge Parkway": only the last word is the suffix; the
        # others are part of the name and spelled out, as Pub 28 writes such names
        *in_name, suffix_text = suffix_text.split(" ")
        spelled = [SUFFIX_WORDS.get(SUFFIXES.get(w, w), w) for w in in_name]
        name = " ".join([name, *spelled]).strip()
    suffix = SUFFIXES.get(suffix_text, suffix_text) or None
    postdir_text = words("StreetNamePostDirectional")
    postdir = directional(postdir_text)
    # A direction that starts or ends a longer name is the directional ("North Metro Parkway"
    # tagged as one name, "South 300 West"): the same reading for every spelling.
    first, _, rest = name.partition(" ")
    if rest and predir is None and not predir_text and directional(first):
        predir, name = directional(first), rest
    rest, _, last = name.rpartition(" ")
    if rest and postdir is None and not postdir_text and directional(last):
        postdir, name = directional(last), rest
    if postdir_text and postdir is None:
        suffix = " ".join(w for w in (suffix, postdir_text) if w)
    if postdir_text in UNIT_DESIGNATORS:  # "21st Ave No. Ste 130"
        suffix, postdir_text = SUFFIXES.get(suffix_text, suffix_text) or None, ""
    borrowed = not name and not suffix  # the name is taken from another part, below
    name, suffix, postdir, unit_runs = _bare_unit(tagged, name, suffix, postdir)
    from_place = False
    if not name and not suffix and not words("StateName") and not words("ZipCode"):
        name = words("PlaceName")  # "5500 N St. Louis", St. Louis taken for a city
        from_place = bool(name)
    if borrowed and name and postdir and not predir:
        predir, postdir = postdir, None  # the direction came before the borrowed name
    if not name:
        # "123 North St" can come back as a direction plus a suffix: the direction is the name.
        if predir and suffix:
            name, predir = predir_text, None
        elif postdir and suffix and tagged.type_before_direction:  # "3640 Ave E"
            name, suffix, postdir = f"{suffix} {postdir_text}", None, None
        elif postdir and suffix:  # "104 South Blvd" tagged as a post-directional
            name, postdir = postdir_text, None
        elif suffix:
            name, suffix = suffix_text, None
    name, suffix = _name_and_suffix(name, suffix)
    unit = unit_identifier(unit_runs)
    if unit and name.rpartition(" ")[2] in UNIT_DESIGNATORS:  # "Commonwealth Apartment F"
        name = name.rpartition(" ")[0]
    if not number or not name or not is_house_number(number):
        return None
    return StreetParts(
        number=number,
        predirectional=predir,
        street_name=name,
        suffix=suffix,
        postdirectional=postdir,
        unit=unit,
        city=(words("PlaceName") or None) if not from_place else None,
        state=words("StateName") or None,
        zip_code=words("ZipCode") or None,
    )


def _bare_unit(
    tagged: TaggedWords, name: str, suffix: str | None, postdir: str | None
) -> tuple[str, str | None, str | None, list[list[str]]]:
    """An identifier without a designator is often not a unit: the highway's number ("Indiana
    Hwy 212"), the street's name ("1600 NE 4th"), its direction ("Dixie Hwy E")."""
    runs = tagged.unit_runs
    if not runs:
        return name, suffix, postdir, runs
    first, rest = runs[0], runs[1:]
    if not name and not suffix:  # "2510 E # 422": no street without the identifier
        return " ".join(first), suffix, postdir, rest
    if not tagged.bare_unit:
        return name, suffix, postdir, runs
    if suffix in _ROAD_TYPES and len(first) == 1 and first[0].isdigit():
        return f"{name} {suffix} {first[0]}".strip(), None, postdir, rest
    if not postdir and directional(first[0]):  # "M St, NW North Tower": a direction
        return name, suffix, directional(first[0]), rest
    return name, suffix, postdir, runs


def _name_and_suffix(name: str, suffix: str | None) -> tuple[str, str | None]:
    """Suffix words inside a name are spelled out, as Pub 28 writes them ("Avalon Rdg Pkwy" is
    AVALON RIDGE PKWY, however the tagger split it); a suffix the tagger left at the end of the
    name ("Avalon Ridge Parkway" as one name) is the suffix. The first word stays as typed:
    "St Louis" is Saint Louis."""
    first, _, rest = name.partition(" ")
    if not rest:
        return name, suffix
    words = rest.split(" ")
    if not suffix and words[-1] in SUFFIXES:
        suffix = SUFFIXES[words.pop()]
    spelled = [
        _spelled_out(word)
        if word not in ROAD_WORDS or not any(ch.isdigit() for ch in following)
        else word
        for word, following in zip(words, [*words[1:], ""], strict=False)
    ]
    return " ".join([first, *spelled]), suffix


def _spelled_out(word: str) -> str:
    standard = SUFFIXES.get(word)
    if standard is None:
        return word
    spelling = SUFFIX_WORDS.get(standard, standard)
    return spelling if len(spelling) > len(standard) else standard
