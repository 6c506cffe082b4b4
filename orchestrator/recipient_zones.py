"""Which time zones a recipient may be in: property address first, then phone, then all of the
contiguous US.

The address is where the seller's property is, usually where they live; the phone's area code
(and exchange) is where the number was issued, a weaker guess that travels with the person. When
neither is known every contiguous zone is assumed, because quiet hours then use the common
window of all of them: we would rather wait than text someone at 22:00.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from orchestrator.us_time_zones import CONTIGUOUS_US, STATE_ZONES, ZIP_ZONES

ZONE_SOURCES = ("address", "phone", "default")


@dataclass(frozen=True)
class Zones:
    """The IANA zones the recipient may be in, and where we learnt them."""

    names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("names: at least one time zone is required")
        for name in self.names:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"names: {name!r} is not an IANA time zone") from None
        if self.source not in ZONE_SOURCES:
            raise ValueError(f"source: must be one of {', '.join(ZONE_SOURCES)}")


DEFAULT_ZONES = Zones(CONTIGUOUS_US, "default")


def zones_for(*, state: str | None, zip_code: str | None, phone_e164: str | None) -> Zones:
    """The recipient's zones, sorted, and their source.

    ``state`` is the property's two-letter code, upper case; an unknown code (a military "AE")
    falls through to the phone. A ZIP narrows a split state only where its prefix lies wholly
    in one zone (see ``us_time_zones``). The phone's zones come from libphonenumber's
    area-code and exchange data; "unknown" there falls through to the default.
    """
    if state is not None and state in STATE_ZONES:
        return Zones(_sorted(_address_zones(state, zip_code)), "address")
    if phone_e164:
        names = _phone_zones(phone_e164)
        if names:
            return Zones(_sorted(names), "phone")
    return DEFAULT_ZONES


def _address_zones(state: str, zip_code: str | None) -> tuple[str, ...]:
    table = ZIP_ZONES.get(state, {})
    digits = (zip_code or "").strip()[:5]
    for prefix in (digits, digits[:3]):
        if len(prefix) in (3, 5) and prefix in table:
            return table[prefix]
    return STATE_ZONES[state]


def _phone_zones(phone_e164: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        raise ValueError("phone_e164: not a phone number in E.164 form") from None
    names = phone_timezone.time_zones_for_number(number)
    return tuple(name for name in names if name != phone_timezone.UNKNOWN_TIMEZONE)


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))
