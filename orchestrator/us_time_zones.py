"""Where a US recipient's clock is: the IANA zones of each state and territory, narrowed by ZIP.

Kept as data so a boundary correction is a one-line change with no logic touched. The rule
behind every entry: a state lists *every* zone its law puts some of its residents in, and a ZIP
prefix is listed only where all of it lies in one zone (or in a known smaller set). A ZIP that
is missing from its state's table therefore falls back to all of the state's zones, the
conservative answer (the common window of those zones), never to a guess. Unofficial local
practice (Phenix City, AL and Jackpot, NV keep Eastern/Mountain time informally) is not
encoded: the zones here are the legal ones.

Alaska's zoneinfo names (Juneau, Sitka, Nome, ...) differ only in history; today they all keep
Anchorage's clock, so Anchorage stands for them, and Adak for the Aleutians west of 169.5° W.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

EASTERN = "America/New_York"
CENTRAL = "America/Chicago"
MOUNTAIN = "America/Denver"
ARIZONA = "America/Phoenix"  # Mountain Standard Time all year
PACIFIC = "America/Los_Angeles"
ALASKA = "America/Anchorage"
ALEUTIAN = "America/Adak"
HAWAII = "Pacific/Honolulu"

# The lower 48 (and DC): the zones of a recipient we know nothing about.
CONTIGUOUS_US: tuple[str, ...] = (EASTERN, CENTRAL, MOUNTAIN, ARIZONA, PACIFIC)

STATE_ZONES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "AL": (CENTRAL,),
        "AK": (ALASKA, ALEUTIAN),
        "AZ": (ARIZONA, MOUNTAIN),  # the Navajo Nation keeps daylight saving time
        "AR": (CENTRAL,),
        "CA": (PACIFIC,),
        "CO": (MOUNTAIN,),
        "CT": (EASTERN,),
        "DE": (EASTERN,),
        "DC": (EASTERN,),
        "FL": (EASTERN, CENTRAL),
        "GA": (EASTERN,),
        "HI": (HAWAII,),
        "ID": (MOUNTAIN, PACIFIC),
        "IL": (CENTRAL,),
        "IN": (EASTERN, CENTRAL),
        "IA": (CENTRAL,),
        "KS": (CENTRAL, MOUNTAIN),
        "KY": (EASTERN, CENTRAL),
        "LA": (CENTRAL,),
        "ME": (EASTERN,),
        "MD": (EASTERN,),
        "MA": (EASTERN,),
        "MI": (EASTERN, CENTRAL),
        "MN": (CENTRAL,),
        "MS": (CENTRAL,),
        "MO": (CENTRAL,),
        "MT": (MOUNTAIN,),
        "NE": (CENTRAL, MOUNTAIN),
        "NV": (PACIFIC, MOUNTAIN),  # West Wendover keeps Mountain time by federal order
        "NH": (EASTERN,),
        "NJ": (EASTERN,),
        "NM": (MOUNTAIN,),
        "NY": (EASTERN,),
        "NC": (EASTERN,),
        "ND": (CENTRAL, MOUNTAIN),
        "OH": (EASTERN,),
        "OK": (CENTRAL,),
        "OR": (PACIFIC, MOUNTAIN),
        "PA": (EASTERN,),
        "RI": (EASTERN,),
        "SC": (EASTERN,),
        "SD": (CENTRAL, MOUNTAIN),
        "TN": (EASTERN, CENTRAL),
        "TX": (CENTRAL, MOUNTAIN),
        "UT": (MOUNTAIN,),
        "VT": (EASTERN,),
        "VA": (EASTERN,),
        "WA": (PACIFIC,),
        "WV": (EASTERN,),
        "WI": (CENTRAL,),
        "WY": (MOUNTAIN,),
        "PR": ("America/Puerto_Rico",),
        "VI": ("America/St_Thomas",),
        "GU": ("Pacific/Guam",),
        "AS": ("Pacific/Pago_Pago",),
        "MP": ("Pacific/Saipan",),
    }
)


def _prefixes(zone: str, *prefixes: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(prefixes, (zone,))


# ZIP prefixes (3 digits, or all 5 where a town differs from its prefix) that lie wholly in one
# zone of a split state. Boundary prefixes are left out on purpose (they fall back to all the
# state's zones): e.g. FL 324 holds both Panama City (Central) and Port St. Joe (Eastern).
ZIP_ZONES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "AK": {
            **_prefixes(ALASKA, "995", "996", "997", "998", "999"),
            "99546": (ALEUTIAN,),
            "99547": (ALEUTIAN,),
        },
        # 860 and 865 hold both Flagstaff and Navajo Nation towns (Tuba City, Chinle, Window Rock).
        "AZ": _prefixes(
            ARIZONA, "850", "851", "852", "853", "855", "856", "857", "859", "863", "864"
        ),
        "FL": {
            **_prefixes(
                EASTERN, *(f"{p}" for p in range(320, 324)), *(f"{p}" for p in range(326, 350))
            ),
            "325": (CENTRAL,),
        },
        "ID": {**_prefixes(MOUNTAIN, "832", "833", "834", "836", "837"), "838": (PACIFIC,)},
        "IN": {
            **_prefixes(
                EASTERN,
                "460",
                "461",
                "462",
                "466",
                "467",
                "468",
                "469",
                "470",
                "471",
                "472",
                "473",
                "474",
                "478",
            ),
            **_prefixes(CENTRAL, "463", "464", "476", "477"),
        },
        "KS": _prefixes(CENTRAL, *(f"{p}" for p in range(660, 677)), "679"),
        "KY": {
            **_prefixes(EASTERN, "400", "402", "403", "404", "405", "406", "407", "408", "409"),
            **_prefixes(EASTERN, *(f"{p}" for p in range(410, 419))),
            **_prefixes(CENTRAL, "420", "423", "424"),
        },
        "MI": _prefixes(EASTERN, *(f"{p}" for p in range(480, 498))),
        "NE": {**_prefixes(CENTRAL, *(f"{p}" for p in range(680, 690))), "693": (MOUNTAIN,)},
        "NV": {
            **_prefixes(PACIFIC, "889", "890", "891", "893", "894", "895", "897"),
            "89883": (MOUNTAIN,),
        },
        "ND": _prefixes(CENTRAL, "580", "581", "582", "583", "584", "587", "588"),
        "OR": _prefixes(PACIFIC, *(f"{p}" for p in range(970, 979))),
        "SD": {**_prefixes(CENTRAL, "570", "571", "572", "573", "574"), "577": (MOUNTAIN,)},
        "TN": {
            **_prefixes(
                CENTRAL, "370", "371", "372", "375", "380", "381", "382", "383", "384", "385"
            ),
            **_prefixes(EASTERN, "374", "376", "378", "379"),
        },
        "TX": {
            **_prefixes(
                CENTRAL, *(f"{p}" for p in range(750, 798)), *(f"{p}" for p in range(733, 734))
            ),
            **_prefixes(MOUNTAIN, "799", "885"),
        },
    }
)
