"""Phone signals: a real number, what kind of line, and where it was issued."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType, geocoder
from phonenumbers.phonenumberutil import _number_type_helper

from hk_core.pii import valid_phone_in_region

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

    @property
    def location(self) -> str | None:
        """Where the number was issued ("Texas"); looked up only when asked (enrichment rows
        do not carry it, and the geocoder is a cost per number)."""
        if self.e164 is None:
            return None
        return geocoder.description_for_valid_number(phonenumbers.parse(self.e164), "en") or ""


_NOT_GIVEN = PhoneCheck(None, None, None, None)
_INVALID = PhoneCheck(None, False, "unknown", None)


def _region(
    number: phonenumbers.PhoneNumber, default_region: str, valid_in_default: bool
) -> str | None:
    """``phonenumbers.region_code_for_number``. When the number is valid in the default region
    and that region is the first of its country code without leading-digit rules (US for +1),
    that walk would stop at the default region: it is the answer without the walk."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0, ())
    if valid_in_default and regions and regions[0] == default_region:
        metadata = PhoneMetadata.metadata_for_region(default_region, None)
        if metadata is not None and metadata.leading_digits is None:
            return default_region
    return phonenumbers.region_code_for_number(number)


def _number_type(number: phonenumbers.PhoneNumber, region: str | None) -> int:
    """``phonenumbers.number_type`` with the region already known (it would look it up again)."""
    # A None region is passed on as phonenumbers.number_type passes it (no metadata: UNKNOWN).
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        number.country_code,  # type: ignore[arg-type]
        region,  # type: ignore[arg-type]
    )
    if metadata is None:
        return PhoneNumberType.UNKNOWN
    return _number_type_helper(phonenumbers.national_significant_number(number), metadata)


@lru_cache(maxsize=131_072)
def _check(text: str, default_region: str) -> PhoneCheck:
    found = valid_phone_in_region(text, default_region)
    if found is None:  # "555-0142" has a possible length but is no number: no E.164 form
        return _INVALID
    number, valid_in_default = found
    region = _region(number, default_region, valid_in_default)
    return PhoneCheck(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        is_valid=True,
        line_type=_LINE_TYPES.get(_number_type(number, region), "other"),
        region=region,
    )


def check_phone(raw: str | None, default_region: str = "US") -> PhoneCheck:
    if not isinstance(raw, str) or not raw.strip():
        return _NOT_GIVEN
    return _check(raw.strip(), default_region)


def clear_cache() -> None:
    """Forget the memoised answers (a cold start, for benchmarks)."""
    _check.cache_clear()
