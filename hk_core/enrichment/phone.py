"""Phone signals: a real number, what kind of line, and where it was issued."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

from hk_core.pii import valid_phone

LineType = Literal["mobile", "landline", "voip", "fixed_or_mobile", "toll_free", "other", "unknown"]
_LINE_TYPES: dict[int, LineType] = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",  # most US numbers: no split by prefix
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.UNKNOWN: "unknown",
}


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """No phone given: everything None. Given but not a number: ``is_valid`` False."""

    e164: str | None
    is_valid: bool | None
    line_type: LineType | None
    region: str | None
    location: str | None


_NOT_GIVEN = PhoneCheck(None, None, None, None, None)
_INVALID = PhoneCheck(None, False, "unknown", None, None)


@lru_cache(maxsize=131_072)
def _check(text: str, default_region: str) -> PhoneCheck:
    number = valid_phone(text, default_region)
    if number is None:  # "555-0142" has a possible length but is no number: no E.164 form
        return _INVALID
    return PhoneCheck(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        is_valid=True,
        line_type=_LINE_TYPES.get(phonenumbers.number_type(number), "other"),
        region=phonenumbers.region_code_for_number(number),
        location=geocoder.description_for_valid_number(number, "en") or "",
    )


def check_phone(raw: str | None, default_region: str = "US") -> PhoneCheck:
    if not isinstance(raw, str) or not raw.strip():
        return _NOT_GIVEN
    return _check(raw.strip(), default_region)


def clear_cache() -> None:
    """Forget the memoised answers (a cold start, for benchmarks)."""
    _check.cache_clear()
