"""Tolerant parsers for the messy ways people type values, used by the pydantic contract.

Each raises ``ValueError`` with a message a user can act on; pydantic attaches the field name.
Empty strings mean "not given" and come back as ``None``.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationInfo

_DATETIME_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%Y%m%d",
    "%b %d %Y %I:%M%p",
    "%b %d %Y %I:%M %p",
    "%b %d, %Y %I:%M %p",
    "%Y-%m-%d %I:%M %p",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    # Day-first dates only parse where month-first could not (a day above 12).
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%Y.%m.%d",
    "%m/%d/%Y %I:%M:%S%p",
    "%m/%d/%Y %I:%M%p",
)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
# Clocks of web forms and vendors drift; a day of slack keeps honest leads in.
_FUTURE_SLACK = timedelta(days=1)
_TRUE = frozenset({
    "true", "t", "yes", "y", "1", "x", "on", "checked", "opt-in", "opted in", "opted-in",
    "opt in", "agree", "agreed", "accepted", "subscribed", "✓", "✔", "yes please",
})  # fmt: skip
_FALSE = frozenset({
    "false", "f", "no", "n", "0", "off", "unchecked", "opt-out", "opted out", "opted-out",
    "opt out", "declined", "unsubscribed", "do not contact", "dnc", "✗", "no thanks",
})  # fmt: skip
# What people type for "no value": not an error, just not given.
NULL_TOKENS = frozenset({
    "n/a", "na", "none", "null", "nil", "nan", "-", "--", "---", "?", "??", "unk", "tbd",
    "not sure", "not provided", "not applicable", "#n/a", "n.a.", "(blank)", "blank",
})  # fmt: skip


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and (value == "" or value.isspace()):
        return None
    return value


def missing_to_none(value: Any) -> Any:
    """Blank, or a word meaning "no value" (N/A, none, -, ?): not given."""
    if isinstance(value, str):
        if value == "" or value.isspace():
            return None
        if len(value) <= 16 and value.strip().lower() in NULL_TOKENS:
            return None
    return value


def ascii_digits(text: str) -> str:
    """``text`` unchanged, or ValueError when it holds digits other than ASCII 0-9 (full-width,
    Arabic-Indic, superscript, fractions such as ½ …): numbers, dates and ZIP codes are never
    read from a mixture of scripts."""
    if not text.isascii() and any(ch.isnumeric() and not ch.isascii() for ch in text):
        raise ValueError(f"digits other than 0-9 in {text[:40]!r}; type it with 0-9")
    return text


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL byte")
    return value


# Validation context of values read from CSV cells (``model_validate(..., context=CSV_CELLS)``);
# recognised by identity, as it is asked for on every text field of every row.
CSV_CELLS = {"csv_cells": True}


def free_text(max_len: int, *, nulls: bool = False):
    """Free text (names, notes): kept byte for byte, only NUL and over-long values refused.
    With ``nulls``, a placeholder such as "N/A" counts as not given, but only in a CSV cell
    (validation context ``CSV_CELLS``): a spreadsheet has no other way to say "empty", while
    JSON has null, so a JSON "Null" is a name (people are called Null)."""

    def parse(value: Any, info: ValidationInfo) -> str | None:
        csv_cell = nulls and info.context is CSV_CELLS
        value = missing_to_none(value) if csv_cell else blank_to_none(value)
        if value is None:
            return None
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected text, got {type(value).__name__}")
            value = str(value)
        no_nul(value)
        if len(value) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        return value

    return parse


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601, US-style dates, or Unix epoch seconds/milliseconds; naive times are UTC."""
    value = missing_to_none(value)
    if value is None:
        return None
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, bool):
        raise ValueError("expected a date or time, got a boolean")
    elif isinstance(value, int | float):
        parsed = _from_epoch(float(value))
    elif isinstance(value, str):
        text = no_nul(value).strip()
        if not text.isascii():
            ascii_digits(text)
        if text.isascii() and text.isdigit() and len(text) in (10, 13):
            parsed = _from_epoch(float(text))
        elif _EXCEL_SERIAL_RE.match(text):
            # Spreadsheets export dates as days since 1899-12-30.
            parsed = _EXCEL_EPOCH + timedelta(days=float(text))
        else:
            parsed = _parse_date_text(text)
        if parsed is None:
            raise ValueError(f"unparseable date or time {text[:40]!r}")
    else:
        raise ValueError(f"expected a date or time, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed < _EARLIEST:
        raise ValueError("before 1900")
    if parsed > datetime.now(UTC) + _FUTURE_SLACK:
        raise ValueError("in the future")
    return parsed


_EXCEL_SERIAL_RE = re.compile(r"^[2-7]\d{4}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_ZONE_WORDS = re.compile(r"\s+(UTC|GMT|Z|[ECMP][SD]T|AK[SD]T|HST)$", re.IGNORECASE)
# US zone abbreviations CRMs print after local times; the fixed offset is what they mean.
_US_ZONES = {
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "UTC": 0, "GMT": 0, "Z": 0,
}  # fmt: skip


def _parse_date_text(text: str) -> datetime | None:
    zone = _ZONE_WORDS.search(text)
    cleaned = _ZONE_WORDS.sub("", text)
    offset = timezone(timedelta(hours=_US_ZONES[zone.group(1).upper()])) if zone else None
    parsed = _parse_local(cleaned)
    if parsed is not None and offset is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=offset)
    if parsed is not None:
        return parsed
    try:  # RFC 2822, as mail and some webhooks send it
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _parse_local(cleaned: str) -> datetime | None:
    try:
        return datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    return None


def parse_date(value: Any) -> date | None:
    parsed = parse_datetime(value)
    return parsed.date() if parsed is not None else None


def _from_epoch(seconds: float) -> datetime:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError("epoch timestamp out of range") from exc


def parse_bool(value: Any) -> bool | None:
    """Yes/no as typed. An answer that is neither is stored as not given (with a warning):
    refusing the whole lead over a consent checkbox would lose a seller."""
    value = missing_to_none(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = no_nul(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return None
    raise ValueError(f"expected yes/no, got {str(value)[:40]!r}")


def slug(value: str) -> str:
    """'Web Form' -> 'web_form': the canonical form of codes typed by people."""
    return re.sub(r"[^0-9a-z]+", "_", value.strip().lower()).strip("_")


def choice(aliases: dict[str, str], *, field_name: str, unknown: str | None):
    """An enumerated value typed loosely. Unknown text maps to ``unknown`` (a warning, not a
    rejection: the rest of the lead is still good) or, when ``unknown`` is None, is refused."""

    allowed = sorted(set(aliases.values()))

    def parse(value: Any) -> str | None:
        value = blank_to_none(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        key = slug(no_nul(value))
        if key in aliases:
            return aliases[key]
        if missing_to_none(value) is None:
            return None
        for alias, canonical in aliases.items():
            # Free-text answers such as "going through a divorce" still name a category.
            if len(alias) >= 4 and alias in key:
                return canonical
        if unknown is None:
            raise ValueError(f"unknown {field_name} {value[:40]!r}; expected one of {allowed}")
        return unknown

    return parse
