"""A reason's value in words, exactly as the batch's Arrow kernels write it, without Arrow.

``ml.reasons.value_text`` words a whole column at once; called on one value it costs ~100 µs
of Arrow call overhead, and with random leads most values are new (a feature like
``mortgage_balance`` barely repeats), so it was ~17% of an uncached score request. This copies
what those kernels do for the values the API sees:

- numbers: ``pc.round(x, 2)`` (scale by 100 in double arithmetic, keep ``x`` if that is
  whole, else round to the nearest, ties to even, and scale back), then Arrow's float to
  string cast (the shortest digits that read back as the same double, in plain notation up
  to ten integer digits and as ``1.2345678901e+10`` beyond; ``-0`` keeps its sign);
  from 1e15 up the value is shown unrounded, as the batch does;
- booleans ``yes``/``no``; categories with control characters replaced by spaces;
- ``None`` → ``unknown``.

Anything else (inf and NaN, integers beyond 2**53, non-ASCII text, values of an unexpected
type) goes to the Arrow kernels themselves, so an odd value is worded (or refused) exactly as
before. ``tests/test_reason_text.py`` holds this to Arrow on a million random values and the
edge cases (ties, negative zero, the notation boundaries).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

import pyarrow as pa

from hk_core.features import Feature
from ml.reasons import ROUNDABLE_BELOW, UNKNOWN_VALUE, VALUE_DIGITS, value_text

_SCALE = 10.0**VALUE_DIGITS
_EXACT_INT = 2**53  # Arrow refuses to convert larger Python ints to float64
_PLAIN_BELOW_EXPONENT = 10  # Arrow's cast writes 1234567890 plainly, 12345678901 as 1.2…e+10
_CONTROL = re.compile(r"[\x00-\x1f]")
_ARROW = {"numeric": pa.float64(), "boolean": pa.bool_(), "categorical": pa.string()}


def arrow_value_text(feature: Feature, value: Any) -> str:
    """The batch's own kernels on one value (the reference, and the path for odd values)."""
    shown = value_text(feature, pa.array([value], _ARROW[feature.kind]))[0].as_py()
    # value_text JSON-escapes for the batch's hand-built JSON; the API's JSON escapes itself.
    return str(json.loads(f'"{shown}"'))


def _rounded(x: float) -> float:
    """``pc.round(x, 2)`` with its default half-to-even mode, for finite ``x``."""
    scaled = x * _SCALE
    if scaled == math.floor(scaled):
        return x  # already whole hundredths: Arrow returns the value itself
    # round() is half-to-even like Arrow's; copysign keeps the -0 of C's rounding of -0.001.
    return math.copysign(float(round(scaled)), scaled) / _SCALE


def _float_text(x: float) -> str:
    """Arrow's float64 → string cast of a finite double."""
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    # repr() gives the shortest digits that round-trip, as Arrow's double-conversion does.
    text, _, power_text = repr(abs(x)).partition("e")
    whole, _, fraction = text.partition(".")
    digits = (whole + fraction).lstrip("0")
    # digits before the decimal point (leading zeros of 0.0012 move it left)
    point = len(whole) + int(power_text or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if not -6 < point <= _PLAIN_BELOW_EXPONENT:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = point - 1
        return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _fast(feature: Feature, value: Any) -> str | None:
    """The words for ``value``, or None when only Arrow itself should say."""
    if value is None:
        return UNKNOWN_VALUE
    kind, cls = feature.kind, type(value)
    if kind == "numeric":
        if cls is int and -_EXACT_INT <= value <= _EXACT_INT:
            value = float(value)
        elif cls is not float or not math.isfinite(value):
            return None
        return _float_text(_rounded(value) if abs(value) < ROUNDABLE_BELOW else value)
    if kind == "boolean":
        return ("yes" if value else "no") if cls is bool else None
    if cls is str and value.isascii():
        return _CONTROL.sub(" ", value)
    return None


def reason_value_text(feature: Feature, value: Any) -> str:
    """A lead's value of ``feature`` as the batch's ``reason_codes`` word it."""
    shown = _fast(feature, value)
    return _arrow_cached(feature, value) if shown is None else shown


# typed: True, 1 and 1.0 are equal keys but not the same words (or not all valid).
_arrow_cached = lru_cache(maxsize=4096, typed=True)(arrow_value_text)
