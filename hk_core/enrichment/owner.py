"""Is the person who sent the lead the owner of record? County rolls write owners as
"SMITH JOHN A", "SMITH, JOHN A & MARY B", "JOHN A SMITH", or as a company, trust or estate."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

OWNER_MATCH_THRESHOLD = 85.0
# Last name weighs more: a relative shares it, the owner shares both.
_LAST_WEIGHT = 0.55
_NICKNAME_SCORE = 95.0  # "Bob" for ROBERT: as good as a typo-free first name, not quite equal
_INITIAL_SCORE = 70.0  # the roll gives "J" and the lead "John": likely, not certain

# Owners that are not a natural person; a person who sends a lead is never their owner of record.
_ENTITY_WORDS = frozenset(
    {
        "LLC", "L L C", "INC", "INCORPORATED", "CORP", "CORPORATION", "CO", "COMPANY", "LP",
        "LLP", "LTD", "PLLC", "PC", "TRUST", "TR", "TRS", "TRUSTEE", "TRUSTEES", "ESTATE", "EST",
        "HOLDINGS", "PROPERTIES", "INVESTMENTS", "REALTY", "RENTALS", "PARTNERS", "PARTNERSHIP",
        "BANK", "ASSOCIATION", "ASSN", "CHURCH", "CITY", "COUNTY", "STATE", "AUTHORITY",
        "HOUSING", "MANAGEMENT", "GROUP", "FUND", "VENTURES", "ENTERPRISES", "FOUNDATION",
    }
)  # fmt: skip
_GENERATIONAL = frozenset({"JR", "SR", "II", "III", "IV"})
_CO_OWNER_SPLIT = re.compile(r"\s*(?:&|\bAND\b|/|;)\s*")
_NON_LETTERS = re.compile(r"[^A-Z,\s]")

# Common English nicknames, nickname -> formal first names.
NICKNAMES: dict[str, frozenset[str]] = {
    nick: frozenset(names.split())
    for nick, names in {
        "ABBY": "ABIGAIL", "ALEX": "ALEXANDER ALEXANDRA", "ANDY": "ANDREW", "BECKY": "REBECCA",
        "BEN": "BENJAMIN", "BETH": "ELIZABETH", "BETTY": "ELIZABETH", "BILL": "WILLIAM",
        "BILLY": "WILLIAM", "BOB": "ROBERT", "BOBBY": "ROBERT", "CATHY": "CATHERINE",
        "CHRIS": "CHRISTOPHER CHRISTINA CHRISTINE", "CHUCK": "CHARLES", "CINDY": "CYNTHIA",
        "DAN": "DANIEL", "DANNY": "DANIEL", "DAVE": "DAVID", "DEBBIE": "DEBORAH DEBRA",
        "DEB": "DEBORAH DEBRA", "DON": "DONALD", "ED": "EDWARD", "EDDIE": "EDWARD",
        "GREG": "GREGORY", "JEFF": "JEFFREY", "JEN": "JENNIFER", "JENNY": "JENNIFER",
        "JERRY": "GERALD JEROME", "JIM": "JAMES", "JIMMY": "JAMES", "JOE": "JOSEPH",
        "JOEY": "JOSEPH", "JON": "JONATHAN JOHN", "JOHNNY": "JOHN", "KATE": "KATHERINE",
        "KATHY": "KATHERINE KATHLEEN", "KEN": "KENNETH", "KENNY": "KENNETH",
        "KIM": "KIMBERLY", "LARRY": "LAWRENCE", "LIZ": "ELIZABETH", "MAGGIE": "MARGARET",
        "MATT": "MATTHEW", "MIKE": "MICHAEL", "MICKEY": "MICHAEL", "NICK": "NICHOLAS",
        "PAT": "PATRICK PATRICIA", "PATTY": "PATRICIA", "PEGGY": "MARGARET", "RICH": "RICHARD",
        "RICK": "RICHARD", "RICKY": "RICHARD", "ROB": "ROBERT", "RON": "RONALD",
        "RONNIE": "RONALD", "SAM": "SAMUEL SAMANTHA", "STEPH": "STEPHANIE", "STEVE": "STEVEN STEPHEN",
        "SUE": "SUSAN", "SUSIE": "SUSAN", "TED": "EDWARD THEODORE", "TIM": "TIMOTHY",
        "TOM": "THOMAS", "TOMMY": "THOMAS", "TONY": "ANTHONY", "VICKY": "VICTORIA",
        "WILL": "WILLIAM",
    }.items()
}  # fmt: skip


def _clean(text: str) -> str:
    return " ".join(_NON_LETTERS.sub("", text.upper().replace("-", " ")).split())


def is_entity_owner(owner_name: str) -> bool:
    """An LLC, corporation, trust, estate or public body rather than a person."""
    words = _clean(owner_name).replace(",", " ").split()
    text = " ".join(words)
    return any(w in _ENTITY_WORDS for w in words) or "L L C" in text or "ESTATE OF" in text


def _person_names(owner_name: str) -> list[tuple[str, str]]:
    """Every (first, last) reading of the owners: "LAST FIRST M", "FIRST M LAST", "LAST, FIRST"
    and co-owners ("SMITH JOHN A & MARY B": Mary shares the first owner's last name)."""
    segments = [s for s in _CO_OWNER_SPLIT.split(owner_name.upper()) if s.strip()]
    readings: list[tuple[str, str]] = []
    shared_last: list[str] = []
    parsed: list[tuple[list[str], str | None]] = []
    for segment in segments:
        comma_last = None
        if "," in segment:
            before, _, segment = segment.partition(",")
            comma_last = _clean(before).replace(",", "") or None
        words = [w for w in _clean(segment).replace(",", " ").split() if w not in _GENERATIONAL]
        parsed.append((words, comma_last))
    for words, comma_last in parsed:
        given = [w for w in words if len(w) > 1] or words
        if comma_last:
            shared_last.append(comma_last)
        elif len(given) >= 2:
            shared_last += [given[0], given[-1]]
    for words, comma_last in parsed:
        given = [w for w in words if len(w) > 1]
        initials = [w for w in words if len(w) == 1]
        if comma_last:
            first = given[0] if given else (initials[0] if initials else "")
            readings.append((first, comma_last))
        elif len(given) >= 2:
            readings.append((given[1], given[0]))  # county order: LAST FIRST M
            readings.append((given[0], given[-1]))  # natural order: FIRST M LAST
            if len(given) >= 3:  # a two-word last name: "DE LA CRUZ MARIA"
                readings.append((given[-1], " ".join(given[:-1])))
                readings.append((given[0], " ".join(given[1:])))
        elif given:  # "& MARY B": a co-owner's first name alone
            readings += [(given[0], last) for last in shared_last]
    return readings


def _first_name_score(submitted: str, owner_first: str) -> float:
    if len(owner_first) == 1:
        return _INITIAL_SCORE if submitted.startswith(owner_first) else 0.0
    score = fuzz.ratio(submitted, owner_first)
    if owner_first in NICKNAMES.get(submitted, ()) or submitted in NICKNAMES.get(owner_first, ()):
        score = max(score, _NICKNAME_SCORE)
    return score


def _submitter(first_name: str | None, last_name: str | None) -> tuple[str, str] | None:
    first = _clean(first_name or "").replace(",", "")
    last = _clean(last_name or "").replace(",", "")
    if first and not last and " " in first:  # the whole name typed into the first-name box
        first, _, last = first.rpartition(" ")
    if not first or not last:
        return None
    return first.split()[0], last


@lru_cache(maxsize=65_536)
def _score(first: str, last: str, owner_name: str) -> float:
    if is_entity_owner(owner_name):
        return 0.0
    best = 0.0
    for owner_first, owner_last in _person_names(owner_name):
        last_score = fuzz.ratio(last.replace(" ", ""), owner_last.replace(" ", ""))
        score = _LAST_WEIGHT * last_score + (1 - _LAST_WEIGHT) * _first_name_score(
            first, owner_first
        )
        best = max(best, score)
    return round(best, 1)


def owner_match_score(
    first_name: str | None, last_name: str | None, owner_name: str | None
) -> float:
    """0-100: how well the submitter's name matches the owner of record (0 for companies,
    trusts and estates, and when either name is missing)."""
    submitter = _submitter(first_name, last_name)
    if submitter is None or not owner_name or not owner_name.strip():
        return 0.0
    return _score(*submitter, owner_name)


def is_owner_of_record(
    first_name: str | None,
    last_name: str | None,
    owner_name: str | None,
    threshold: float = OWNER_MATCH_THRESHOLD,
) -> bool | None:
    """True/False, or None when the owner of record or the submitter's name is unknown."""
    if not owner_name or not owner_name.strip() or _submitter(first_name, last_name) is None:
        return None
    return owner_match_score(first_name, last_name, owner_name) >= threshold


def clear_cache() -> None:
    """Forget the memoised answers (a cold start, for benchmarks)."""
    _score.cache_clear()
