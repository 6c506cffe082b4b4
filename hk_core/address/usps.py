"""USPS Publication 28 spellings: street suffixes (appendix C1), directionals and secondary unit
designators (appendix C2), as the standard abbreviation of every common way to type them."""

from __future__ import annotations

# Standard suffix -> the spellings people and county rolls use for it.
_SUFFIX_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ALY": ("ALLEY", "ALLEE", "ALLY"),
    "AVE": ("AVENUE", "AV", "AVEN", "AVENU", "AVN", "AVNUE"),
    "BLVD": ("BOULEVARD", "BOUL", "BOULV", "BLV"),
    "BND": ("BEND",),
    "BR": ("BRANCH", "BRNCH"),
    "BRG": ("BRIDGE", "BRDGE"),
    "BYP": ("BYPASS", "BYPA", "BYPAS", "BYPS"),
    "CIR": ("CIRCLE", "CIRC", "CIRCL", "CRCL", "CRCLE"),
    "CT": ("COURT", "CRT"),
    "CTR": ("CENTER", "CENTRE", "CEN", "CENT", "CENTR", "CNTER", "CNTR"),
    "CV": ("COVE",),
    "CRK": ("CREEK",),
    "CRES": ("CRESCENT", "CRSENT", "CRSNT"),
    "XING": ("CROSSING", "CRSSNG"),
    "DR": ("DRIVE", "DRIV", "DRV"),
    "EST": ("ESTATE",),
    "ESTS": ("ESTATES",),
    "EXPY": ("EXPRESSWAY", "EXP", "EXPR", "EXPRESS", "EXPW"),
    "FWY": ("FREEWAY", "FREEWY", "FRWAY", "FRWY"),
    "GLN": ("GLEN",),
    "GRN": ("GREEN",),
    "GRV": ("GROVE", "GROV"),
    "HTS": ("HEIGHTS", "HT"),
    "HWY": ("HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY"),
    "HL": ("HILL",),
    "HOLW": ("HOLLOW", "HLLW", "HOLLOWS", "HOLWS"),
    "IS": ("ISLAND", "ISLND"),
    "JCT": ("JUNCTION", "JCTION", "JCTN", "JUNCTN", "JUNCTON"),
    "KNL": ("KNOLL", "KNOL"),
    "LK": ("LAKE",),
    "LNDG": ("LANDING", "LNDNG"),
    "LN": ("LANE",),
    "LOOP": ("LOOPS",),
    "MNR": ("MANOR",),
    "MDW": ("MEADOW",),
    "MDWS": ("MEADOWS", "MEDOWS"),
    "MTN": ("MOUNTAIN", "MNTAIN", "MNTN", "MOUNTIN", "MTIN"),
    "PARK": ("PRK", "PARKS"),
    "PKWY": ("PARKWAY", "PARKWY", "PKWAY", "PKY", "PARKWAYS", "PKWYS"),
    "PASS": (),
    "PATH": ("PATHS",),
    "PIKE": ("PIKES",),
    "PL": ("PLACE",),
    "PLZ": ("PLAZA", "PLZA"),
    "PT": ("POINT",),
    "PR": ("PRAIRIE", "PRR"),
    "RDG": ("RIDGE", "RDGE"),
    "RD": ("ROAD",),
    "RTE": ("ROUTE",),
    "ROW": (),
    "RUN": (),
    "SQ": ("SQUARE", "SQR", "SQRE", "SQU"),
    "ST": ("STREET", "STRT", "STR"),
    "TER": ("TERRACE", "TERR"),
    "TRCE": ("TRACE", "TRACES"),
    "TRL": ("TRAIL", "TRAILS", "TRLS"),
    "TPKE": ("TURNPIKE", "TRNPK", "TURNPK"),
    "VLY": ("VALLEY", "VALLY", "VLLY"),
    "VW": ("VIEW",),
    "VIS": ("VISTA", "VIST", "VST", "VSTA"),
    "WALK": ("WALKS",),
    "WAY": ("WY",),
    "WL": ("WELL",),
    "XRD": ("CROSSROAD",),
}
SUFFIXES: dict[str, str] = {
    spelling: standard
    for standard, spellings in _SUFFIX_SPELLINGS.items()
    for spelling in (standard, *spellings)
}
# The word a standard suffix abbreviates, for streets whose suffix is really part of the name.
SUFFIX_WORDS: dict[str, str] = {
    standard: (spellings[0] if spellings else standard)
    for standard, spellings in _SUFFIX_SPELLINGS.items()
}

DIRECTIONALS: dict[str, str] = {
    "N": "N", "NORTH": "N", "S": "S", "SOUTH": "S", "E": "E", "EAST": "E", "W": "W", "WEST": "W",
    "NE": "NE", "NORTHEAST": "NE", "NORTH EAST": "NE", "NW": "NW", "NORTHWEST": "NW",
    "NORTH WEST": "NW", "SE": "SE", "SOUTHEAST": "SE", "SOUTH EAST": "SE", "SW": "SW",
    "SOUTHWEST": "SW", "SOUTH WEST": "SW",
}  # fmt: skip
DIRECTION_WORDS: dict[str, str] = {
    "N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST",
    "NE": "NORTHEAST", "NW": "NORTHWEST", "SE": "SOUTHEAST", "SW": "SOUTHWEST",
}  # fmt: skip

# Secondary unit designators. A lead's "Apt 4" and the roll's "UNIT 4" are the same door, so
# the designator is not part of the join key: only the unit's identifier is.
UNIT_DESIGNATORS = frozenset(
    {
        "#", "APT", "APARTMENT", "UNIT", "STE", "SUITE", "BLDG", "BUILDING", "FL", "FLOOR",
        "RM", "ROOM", "LOT", "SPC", "SPACE", "TRLR", "TRAILER", "DEPT", "OFC", "OFFICE",
        "PH", "PENTHOUSE", "NO", "NUMBER", "DEPARTMENT", "BSMT", "BASEMENT", "HNGR", "HANGAR",
        "BLG", "BLD", "FLR",
    }
)  # fmt: skip
