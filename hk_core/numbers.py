"""Numbers and amounts of money as people type them, in US and European styles.

`1,000.00`, `1.000,00`, `1 000,00`, `$1,000`, `250k` and `1.2 million` are all understood; what
could mean two different numbers is refused rather than guessed (see docs/data-contracts.md):

- a comma or a period followed by exactly three digits, with no other separator, is a
  thousands separator when it is a comma (`1,500` is 1500, as US forms write it) and ambiguous
  when it is a period (`1.500` is 1.5 in the US and 1500 in Europe);
- with a scale word (`k`, `m`, `million`), any separator followed by exactly three digits is
  ambiguous (`1,250k`: 1250k or 1.25k?);
- groups must be of three digits (`1,00,000` is refused), one kind of separator groups while
  the other, at most once, marks the decimals, and a lone comma before one, two or four and
  more digits is a decimal comma (`2,5` baths is 2.5, `1 000,00` is 1000.00).

Digits other than ASCII 0-9 (full-width, Arabic-Indic …) are refused: a number is never
read from a mixture of scripts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from hk_core.parsing import ascii_digits, missing_to_none, no_nul

_DIGITS = re.compile(r"^[0-9]+$")
_SIMPLE_DECIMAL = re.compile(r"^[0-9]+\.[0-9]+$")
_US_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?$")  # "1,850", "250,000.00"
# Thin and no-break spaces and the apostrophe (Swiss style) group digits too.
_GROUP_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "'": " "})
_GROUPED = re.compile(r"^[0-9]{1,3}(?:([,. ])[0-9]{3})(?:\1[0-9]{3})*$")
_AMOUNT = re.compile(
    r"^(?:~|approx\.?|about|around)?\s*(?:usd|us\$)?\s*\$?\s*"
    r"(?P<number>[0-9][0-9., ]*|[.,][0-9]+)"
    r"\s*(?P<scale>k|m|mm|thousand|million|mil)?\.?\s*(?:usd|dollars)?\+?$",
    re.IGNORECASE,
)
_SCALES = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "mm": 1_000_000,
           "million": 1_000_000, "mil": 1_000_000}  # fmt: skip
_WITH_UNIT = re.compile(
    r"^(?:~|approx\.?|about|around)?\s*([0-9][0-9,. ]*?)\s*\+?\s*"
    r"(?:bd|br|bds|bdrm|bdrms|bed|beds|bedrooms?|ba|bth|bath|baths|bathrooms?|"
    r"sq\.?\s*ft\.?|sqft|sf|square\s+feet|sq\s+feet|ft2|yr|years?)?\.?$",
    re.IGNORECASE,
)


def decimal_text(number: str, *, scaled: bool = False) -> Decimal:
    """The value of digits and separators: "1,000.50", "1.000,50", "1 000,50" are 1000.50."""
    number = number.strip()
    if _DIGITS.match(number):
        return Decimal(number)
    if not scaled and _US_GROUPED.match(number):
        return Decimal(number.replace(",", ""))
    if _SIMPLE_DECIMAL.match(number) and not _ambiguous_period(number, scaled):
        return Decimal(number)
    last = max(number.rfind(","), number.rfind("."))
    if last < 0:
        if _GROUPED.match(number):  # "2 000"
            return Decimal(number.replace(" ", ""))
        raise ValueError(f"not a number: {number[:40]!r}")
    mark, tail, head = number[last], number[last + 1 :], number[:last]
    other = "." if mark == "," else ","
    if number.count(mark) > 1:
        is_decimal = False  # "1.000.000": the mark groups
    elif other in number:
        is_decimal = True  # "1,000.50" / "1.000,50": the last separator marks the decimals
    elif len(tail) == 3 and (scaled or mark == "." or " " in head):
        raise ValueError(
            f"ambiguous number {number[:40]!r}: is {mark!r} a decimal mark or a thousands "
            "separator? Write the number without it (1500, or 1.5)"
        )
    else:
        is_decimal = len(tail) != 3  # "1,500" groups (US forms); "2,5" and "2.75" are decimals
    whole, fraction = (head, tail) if is_decimal else (number, "")
    if (fraction and not fraction.isdigit()) or (whole and not (
        _DIGITS.match(whole) or _GROUPED.match(whole)
    )):  # fmt: skip
        raise ValueError(f"not a number: {number[:40]!r}")
    digits = re.sub(r"[,. ]", "", whole) or "0"
    try:
        return Decimal(f"{digits}.{fraction}" if fraction else digits)
    except InvalidOperation:
        raise ValueError(f"not a number: {number[:40]!r}") from None


def _ambiguous_period(number: str, scaled: bool) -> bool:
    """ "1.500" (one to three digits, a period, exactly three): 1.5 or 1500? With a scale word
    ("1.250k") any three-digit fraction is."""
    head, _, tail = number.partition(".")
    return len(tail) == 3 and (scaled or len(head) <= 3)


def number_text(value: Any) -> str | None:
    value = missing_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float | Decimal):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    text = no_nul(value).strip()
    if text.isascii():
        return text.replace("'", " ") if "'" in text else text
    return ascii_digits(text).translate(_GROUP_SPACES)


def parse_amount(text: str) -> Decimal:
    """Money as typed: currency signs and words, a scale word, US or European separators.
    A minus sign is refused unless the amount is zero ("-0")."""
    if text.isascii() and text.isdigit():  # the common case
        return Decimal(text)
    negative = text.startswith("-")
    match = _AMOUNT.match(text[1:].lstrip() if negative else text)
    if not match:
        if negative:
            raise ValueError("out of range: must not be negative")
        raise ValueError(f"not an amount of money: {text[:40]!r}")
    scale = (match.group("scale") or "").lower()
    amount = decimal_text(match.group("number"), scaled=bool(scale))
    if scale:
        amount *= _SCALES[scale]
    if negative and amount != 0:
        raise ValueError("out of range: must not be negative")
    return abs(amount)


def number_range(low: float, high: float, *, integer: bool):
    """A count or measure: '3', '3.0', '1,850', '2,5', ' 2.5 ', '3 beds', then range-checked."""

    def parse(value: Any) -> int | float | None:
        if isinstance(value, float | int) and not isinstance(value, bool):
            number = float(value)
            text = str(value)
        else:
            text = number_text(value)  # type: ignore[assignment]
            if text is None:
                return None
            number = _measure(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        number += 0.0  # -0 is 0
        if integer:
            if number != int(number):
                raise ValueError(f"expected a whole number, got {text[:40]!r}")
            number = int(number)
        if not low <= number <= high:
            raise ValueError(f"out of range: must be between {low:g} and {high:g}")
        return number

    return parse


def _measure(text: str) -> float:
    if text.isascii() and text.isdigit():  # the common case
        return float(text)
    if _SIMPLE_DECIMAL.match(text) and not _ambiguous_period(text, False):  # "2.5"
        return float(text)
    negative = text.startswith("-")
    body = text[1:].lstrip() if negative else text
    try:
        number = decimal_text(body)
    except ValueError:
        unit = _WITH_UNIT.match(body)  # "3 beds", "1,850 sq ft", "2.5 baths", "3+"
        if unit is None:
            raise ValueError(f"not a number: {text[:40]!r}") from None
        number = decimal_text(unit.group(1))
    return -float(number) if negative else float(number)


def money(high: float):
    """Dollar amounts: '$250,000', '250000.00', '1.000,00', '250k', '1.2M'; negatives refused."""

    def parse(value: Any) -> Decimal | None:
        text = number_text(value)
        if text is None:
            return None
        amount = parse_amount(text)
        if amount > Decimal(high):
            raise ValueError(f"out of range: must be at most {high:,.0f}")
        return amount.quantize(Decimal("0.01"))

    return parse
