"""Address text before and after tagging: what usaddress is given, and how its tokens are read.

usaddress's tagger was trained on addresses as people write them, commas and periods included:
a comma is what tells "1st Avenue North, Pell City" (a post-directional, then the city) from
"1st Avenue, North Pell City". So the text it tags keeps them; only the words taken out of its
answer are stripped of punctuation.
"""

from __future__ import annotations

import re

from .usps import DIRECTIONALS, SUFFIXES, UNIT_DESIGNATORS

# Periods vanish ("N.E." is "NE", "St." is "ST"); other punctuation separates words.
_DROP = str.maketrans("", "", ".'`")
_SEPARATORS = re.compile(r"[,;:()\[\]{}\"\\|_]+")
_SPACES = re.compile(r"\s+")
# For the tagger: apostrophes go ("O'Brien" is one word), list-like separators become commas,
# brackets and quotes become spaces, and a comma is always followed by a space.
_TAGGER_DROP = str.maketrans("", "", "'`")
_TAGGER_COMMAS = re.compile(r"\s*[;|]+\s*|\s*,+\s*")
_TAGGER_SPACES = re.compile(r"[()\[\]{}\"\\_]+")
# "Second FL" is a floor, not a city in Florida: the tagger is given the word.
_FLOOR = re.compile(
    r"\b(\d+(?:ST|ND|RD|TH)|FIRST|SECOND|THIRD|FOURTH|FIFTH|SIXTH|SEVENTH|EIGHTH|NINTH|TENTH|"
    r"GROUND|LOWER|UPPER|TOP|MAIN) (?:FL|FLR)\b\.?"
)
_TOKEN_EDGES = re.compile(r"^[^\w#&/-]+|[^\w#&/-]+$")
_ZIP_TAIL = re.compile(r"^(\d{5})(?:[-\u2010-\u2015\u2212]?\d{4})?\.?$")
# House numbers written out ("One Jelly Belly Lane"): rare, but kept as typed, upper case.
NUMBER_WORDS = frozenset({
    "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN", "ELEVEN",
    "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN", "SEVENTEEN", "EIGHTEEN", "NINETEEN",
    "TWENTY", "THIRTY", "FORTY", "FIFTY", "SIXTY", "SEVENTY", "EIGHTY", "NINETY", "HUNDRED",
})  # fmt: skip
# Highway-style pre-types (USPS Pub 28 section 2): each word is spelled its standard way, so
# "US Highway 50", "U.S. Hwy 50" and "US HWY 50" are one street.
_PRE_TYPE_PHRASES = {
    "U S": "US", "SH": "STATE HWY", "SR": "STATE RTE", "CR": "COUNTY RD", "CO RD": "COUNTY RD",
    "CO HWY": "COUNTY HWY", "FARM TO MARKET": "FM", "FARM TO MARKET RD": "FM",
    "RANCH TO MARKET": "RM", "RANCH TO MARKET RD": "RM", "INTERSTATE": "I", "IH": "I",
}  # fmt: skip


def clean_text(text: str) -> str:
    """Upper case, periods dropped, separators turned into single spaces."""
    text = _SEPARATORS.sub(" ", text.translate(_DROP).upper())
    return _SPACES.sub(" ", text).strip()


def tagger_text(text: str) -> str:
    """Upper case with commas kept (", " between parts) for usaddress; periods stay too, as
    they mark abbreviations the tagger knows ("N." or "St.")."""
    text = _TAGGER_SPACES.sub(" ", text.translate(_TAGGER_DROP).upper())
    text = _FLOOR.sub(r"\1 FLOOR", _TAGGER_COMMAS.sub(", ", text))
    return _SPACES.sub(" ", text).strip(" ,")


def token_word(token: str) -> str:
    """One tagged token as a plain word: periods dropped, edge punctuation (commas) stripped."""
    return _TOKEN_EDGES.sub("", token.replace(".", ""))


def pre_type(words: str) -> str:
    """'US HIGHWAY' -> 'US HWY', 'STATE ROUTE' -> 'STATE RTE', 'FARM TO MARKET' -> 'FM'."""
    if words in _PRE_TYPE_PHRASES:
        return _PRE_TYPE_PHRASES[words]
    spelled = " ".join(SUFFIXES.get(word, word) for word in words.split())
    spelled = spelled.replace("U S ", "US ")
    return _PRE_TYPE_PHRASES.get(spelled, spelled)


ROAD_WORDS = {w for w, std in SUFFIXES.items() if std in ("HWY", "RTE", "RD", "FWY", "EXPY")}


def highway_words(name: str) -> str:
    """Road words before a number inside a street name spelled the standard way, "U S" as
    "US": "US Highway 278" tagged as one name is "US HWY 278", like the pre-type reading."""
    words = name.split(" ")
    for i, word in enumerate(words[:-1]):
        if word in ROAD_WORDS and any(ch.isdigit() for ch in words[i + 1]):
            words[i] = SUFFIXES[word]
    return " ".join(words).replace("U S ", "US ") if len(words) > 1 else name


def directional(words: str) -> str | None:
    """'NORTH' -> 'N', 'S E' (typed "S. E.") -> 'SE'; None when the words are no direction."""
    found = DIRECTIONALS.get(words)
    if found is None and " " in words:
        found = DIRECTIONALS.get(words.replace(" ", ""))
    return found


def house_number(words: list[str]) -> str:
    """The house number without a leading '#' ("# 2 Turner Rd")."""
    return " ".join(w for w in words if w and w != "#")


def is_house_number(number: str) -> bool:
    return any(ch.isdigit() for ch in number) or all(w in NUMBER_WORDS for w in number.split())


def unit_identifier(runs: list[list[str]]) -> str | None:
    """The unit's identifier from the identifier runs usaddress found ("# APT 3", "APT #3",
    "No 2202", "Bldg A Apt 3"): designators and '#' dropped, dashes and spaces inside one
    identifier dropped ("4-B" is "4B"), separate identifiers joined by '-' ("A-3")."""
    parts = []
    for run in runs:
        words = [w for w in run if w and w != "#"]
        kept = [w for w in words if w not in UNIT_DESIGNATORS] or words[-1:]
        identifier = "".join(kept).replace("-", "").replace("#", "")
        if identifier:
            parts.append(identifier)
    return "-".join(parts) or None


def without_repeated_place(
    text: str, city: str | None, state: str | None, zip_code: str | None, state_names: set[str]
) -> str:
    """The street line without a city, state and ZIP repeated at its end ("12 Main St, Austin,
    TX 78701" when the city, state and ZIP were also given on their own). A part is taken off
    only after a comma or after a later part was: "100 W Houston" in Houston keeps its name."""
    words = text.split(" ")
    removed = False

    def after_comma(size: int) -> bool:
        return len(words) > size and words[-size - 1].endswith(",")

    last = words[-1].rstrip(",")
    if zip_code and len(words) > 1 and _ZIP_TAIL.match(last) and last[:5] == zip_code[:5]:
        words.pop()
        removed = True
    if state:
        for size in (3, 2, 1):
            tail = " ".join(words[-size:]).rstrip(",.").replace(".", "")
            if (tail == state or tail in state_names) and (removed or after_comma(size)):
                del words[-size:]
                removed = True
                break
    if city:
        size = len(city.split(" "))
        city_words = [w.rstrip(",.") for w in words[-size:]]
        if (
            len(words) > size + 1
            and city_words == city.split(" ")
            and (removed or after_comma(size))
        ):
            del words[-size:]
    return " ".join(words).rstrip(" ,")
