"""Tolerant parsers for the messy ways people type values, used by the pydantic contract.

Each raises ``ValueError`` with a message a user can act on; pydantic attaches the field name.
Empty strings mean "not given" and come back as ``None``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

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
)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
# Clocks of web forms and vendors drift; a day of slack keeps honest leads in.
_FUTURE_SLACK = timedelta(days=1)
_MONEY_RE = re.compile(r"^\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([kKmM])?$")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "x", "on", "checked", "opt-in", "opted in"})
_FALSE = frozenset(
    {"false", "f", "no", "n", "0", "off", "unchecked", "opt-out", "opted out", "none"}
)


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and (value == "" or value.isspace()):
        return None
    return value


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL byte")
    return value


def free_text(max_len: int):
    """Free text (names, notes): kept byte for byte, only NUL and over-long values refused."""

    def parse(value: Any) -> str | None:
        value = blank_to_none(value)
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
    value = blank_to_none(value)
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
        if text.isdigit() and len(text) in (10, 13):
            parsed = _from_epoch(float(text))
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                for fmt in _DATETIME_FORMATS:
                    try:
                        parsed = datetime.strptime(text, fmt)
                        break
                    except ValueError:
                        continue
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


def _number_text(value: Any) -> str | None:
    value = blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float | Decimal):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return no_nul(value).strip()


def number_range(low: float, high: float, *, integer: bool):
    """A count or measure: '3', '3.0', '1,850' and ' 2.5 ' are accepted, then range-checked."""

    def parse(value: Any) -> int | float | None:
        text = _number_text(value)
        if text is None:
            return None
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise ValueError(f"not a number: {text[:40]!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        if integer:
            if number != int(number):
                raise ValueError(f"expected a whole number, got {text[:40]!r}")
            number = int(number)
        if not low <= number <= high:
            raise ValueError(f"out of range: must be between {low:g} and {high:g}")
        return number

    return parse


def money(high: float):
    """Dollar amounts: '$250,000', '250000.00', '250k', '1.2M'; negative amounts refused."""

    def parse(value: Any) -> Decimal | None:
        text = _number_text(value)
        if text is None:
            return None
        match = _MONEY_RE.match(text)
        if not match:
            if text.startswith("-"):
                raise ValueError("out of range: must not be negative")
            raise ValueError(f"not an amount of money: {text[:40]!r}")
        try:
            amount = Decimal(match.group(1).replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"not an amount of money: {text[:40]!r}") from None
        suffix = (match.group(2) or "").lower()
        if suffix == "k":
            amount *= 1_000
        elif suffix == "m":
            amount *= 1_000_000
        if amount > Decimal(high):
            raise ValueError(f"out of range: must be at most {high:,.0f}")
        return amount.quantize(Decimal("0.01"))

    return parse


def parse_bool(value: Any) -> bool | None:
    value = blank_to_none(value)
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
        for alias, canonical in aliases.items():
            # Free-text answers such as "going through a divorce" still name a category.
            if len(alias) >= 4 and alias in key:
                return canonical
        if unknown is None:
            raise ValueError(f"unknown {field_name} {value[:40]!r}; expected one of {allowed}")
        return unknown

    return parse
