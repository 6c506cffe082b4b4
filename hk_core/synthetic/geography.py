"""Geography, fixed for every book (the same county, whatever the seed): the markets, their
streets, ZIPs and area codes, and each county's style."""

from __future__ import annotations

import numpy as np

from hk_core.geo import STATES

from .arrays import _obj, _p, _title

# Where the properties are: (city, state, ZIP3s, area codes, $/sq ft, streets, county style).
# County style: (flag words, date format, unit word, comma after the owner's last name,
# share of ZIP+4 ZIPs, assessment ratio).
_FLAGS = (("Y", "N"), ("TRUE", "FALSE"), ("true", "false"))
MARKETS = (
    ("Austin", "TX", ("787",), ("512", "737"), 285, 3000, (0, 0, "UNIT", False, 0.0, 0.90)),
    ("San Antonio", "TX", ("782",), ("210", "726"), 175, 3000, (0, 0, "#", False, 0.0, 0.88)),
    ("Houston", "TX", ("770", "772"), ("713", "281", "832", "346"), 165, 4500,
     (0, 0, "UNIT", False, 0.3, 0.85)),
    ("Dallas", "TX", ("752",), ("214", "469", "972"), 205, 4000, (0, 0, "#", False, 0.0, 0.92)),
    ("Fort Worth", "TX", ("761",), ("817", "682"), 185, 2000, (0, 1, "UNIT", False, 0.0, 0.90)),
    ("Jacksonville", "FL", ("322",), ("904",), 175, 2000, (1, 1, "UNIT", True, 0.4, 0.80)),
    ("Tampa", "FL", ("336",), ("813", "656"), 235, 2500, (1, 0, "#", True, 0.0, 0.78)),
    ("Atlanta", "GA", ("303",), ("404", "470", "678"), 210, 3500, (2, 0, "APT", False, 0.2, 0.40)),
    ("Memphis", "TN", ("381",), ("901",), 115, 1500, (0, 1, "UNIT", True, 0.0, 0.25)),
    ("Cleveland", "OH", ("441",), ("216",), 95, 1500, (2, 1, "#", False, 0.0, 0.35)),
    ("Birmingham", "AL", ("352",), ("205",), 120, 1200, (0, 0, "APT", False, 0.0, 0.10)),
    ("Hartford", "CT", ("061",), ("860",), 185, 1000, (1, 1, "UNIT", True, 0.5, 0.70)),
    ("Springfield", "MA", ("011",), ("413",), 175, 900, (0, 1, "#", False, 0.0, 0.95)),
    ("Newark", "NJ", ("071",), ("973", "862"), 230, 1200, (2, 0, "UNIT", True, 0.0, 0.60)),
)  # fmt: skip
# Real US area codes; numbers are <area code>-555-<line>, never a real subscriber.
_OTHER_AREA_CODES = (
    "201", "202", "203", "206", "207", "208", "209", "212", "213", "215", "217", "219", "224",
    "225", "228", "229", "231", "234", "239", "240", "248", "251", "252", "253", "254", "256",
    "260", "262", "267", "269", "270", "276", "301", "302", "303", "304", "305", "307", "308",
    "309", "310", "312", "313", "314", "315", "316", "317", "318", "319", "320", "321", "323",
    "325", "330", "334", "336", "337", "339", "347", "351", "352", "360", "361", "385", "386",
    "401", "402", "405", "406", "407", "408", "409", "410", "412", "414", "415", "417", "419",
    "423", "424", "425", "430", "432", "434", "435", "440", "443", "458", "463", "479", "480",
)  # fmt: skip

_STREET_NAMES = (
    "MAIN", "OAK", "PINE", "MAPLE", "CEDAR", "ELM", "WASHINGTON", "LAKE", "HILL", "PARK",
    "WALNUT", "CHESTNUT", "SPRING", "RIDGE", "MEADOW", "FOREST", "RIVER", "SUNSET", "HIGHLAND",
    "JEFFERSON", "LINCOLN", "FRANKLIN", "JACKSON", "MADISON", "ADAMS", "CHURCH", "MILL",
    "WILLOW", "BIRCH", "HICKORY", "MAGNOLIA", "PECAN", "DOGWOOD", "CYPRESS", "LAUREL",
    "SYCAMORE", "ASPEN", "POPLAR", "HOLLY", "JUNIPER", "MESQUITE", "BLUEBONNET", "LIVE OAK",
    "REDBUD", "PEACHTREE", "PALMETTO", "CHERRY", "HAWTHORNE", "WINDSOR", "KINGS", "LIBERTY",
    "UNION", "MARKET", "BROAD", "CENTER", "HIGH", "WATER", "BRIDGE", "MARTIN LUTHER KING JR",
    "CESAR CHAVEZ", "GRAND", "CENTRAL", "COLLEGE", "UNIVERSITY", "AIRPORT", "RAILROAD",
    "HARBOR", "SUMMIT", "VALLEY", "CANYON", "PRAIRIE", "SHADY OAKS", "TIMBER", "STONE",
    "ROCK CREEK", "BROOKSIDE", "FAIRVIEW", "GREENWOOD", "ROSEWOOD", "WESTWOOD", "LAKEVIEW",
    "HILLCREST", "CRESTVIEW", "PLEASANT", "WILDWOOD", "COUNTRY CLUB", "MOCKINGBIRD", "BELMONT",
    "1ST", "2ND", "3RD", "4TH", "5TH", "6TH", "7TH", "8TH", "9TH", "10TH", "11TH", "12TH",
    "14TH", "19TH", "23RD", "31ST",
)  # fmt: skip
_SUFFIXES = (
    ("ST", "Street"), ("AVE", "Avenue"), ("DR", "Drive"), ("RD", "Road"), ("LN", "Lane"),
    ("CT", "Court"), ("BLVD", "Boulevard"), ("WAY", "Way"), ("PL", "Place"), ("CIR", "Circle"),
    ("TRL", "Trail"), ("PKWY", "Parkway"), ("TER", "Terrace"), ("LOOP", "Loop"),
)  # fmt: skip
_SUFFIX_SHARE = (0.25, 0.15, 0.17, 0.08, 0.10, 0.07, 0.04, 0.04, 0.03, 0.03, 0.02, 0.01, 0.005,
                 0.005)  # fmt: skip
_DIRECTIONS = (("", ""), ("N", "North"), ("S", "South"), ("E", "East"), ("W", "West"))
_DIRECTION_SHARE = (0.6, 0.1, 0.1, 0.1, 0.1)
_HOUSE_NUMBERS = 9_900  # 100 .. 9999
_CENTRAL_STATES = {"TX", "TN", "AL"}  # on UTC-6; the other markets are written as UTC-5


class _Geo:
    """The streets (name, suffix, direction, ZIP, market), per-market tables and spellings."""

    def __init__(self) -> None:
        rng = np.random.default_rng(20_240_101)
        combos = len(_STREET_NAMES) * len(_SUFFIXES) * len(_DIRECTIONS)
        p_combo = (
            np.full(len(_STREET_NAMES), 1 / len(_STREET_NAMES))[:, None, None]
            * _p(_SUFFIX_SHARE)[None, :, None]
            * _p(_DIRECTION_SHARE)[None, None, :]
        ).ravel()
        names, sufs, dirs, market_of = [], [], [], []
        zips: list = []
        for m, (_, _, zip3s, _, _, n_streets, _) in enumerate(MARKETS):
            pick = rng.choice(combos, n_streets, replace=False, p=p_combo)
            name, rest = np.divmod(pick, len(_SUFFIXES) * len(_DIRECTIONS))
            suf, d = np.divmod(rest, len(_DIRECTIONS))
            names.append(name)
            sufs.append(suf)
            dirs.append(d)
            z3 = rng.integers(0, len(zip3s), n_streets)
            z2 = rng.integers(1, 46, n_streets)
            zips.extend(f"{zip3s[a]}{b:02d}" for a, b in zip(z3.tolist(), z2.tolist(), strict=True))
            market_of.append(np.full(n_streets, m))
        self.street_name = np.concatenate(names)
        self.street_suffix = np.concatenate(sufs)
        self.street_dir = np.concatenate(dirs)
        self.street_zip = _obj(zips)
        self.street_market = np.concatenate(market_of)
        counts = np.array([mk[5] for mk in MARKETS])
        self.street_base = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.street_count = counts
        self.n_slots = int(counts.sum()) * _HOUSE_NUMBERS
        self.num = _obj([str(i) for i in range(100_000)])
        self.pad2 = _obj([f"{i:02d}" for i in range(100)])
        self.pad3 = _obj([f"{i:03d}" for i in range(1_000)])
        self.pad4 = _obj([f"{i:04d}" for i in range(10_000)])
        self.halves = _obj([f"{i / 2:.1f}" for i in range(101)])
        self.city = _obj([mk[0] for mk in MARKETS])
        self.city_upper = _obj([mk[0].upper() for mk in MARKETS])
        self.state = _obj([mk[1] for mk in MARKETS])
        self.state_name = _obj([STATES[mk[1]] for mk in MARKETS])
        self.ppsf = np.array([mk[4] for mk in MARKETS], dtype=float)
        self.flags = np.array([mk[6][0] for mk in MARKETS])
        self.date_style = np.array([mk[6][1] for mk in MARKETS])
        self.unit_word = _obj([mk[6][2] for mk in MARKETS])
        self.comma = np.array([mk[6][3] for mk in MARKETS])
        self.zip4_share = np.array([mk[6][4] for mk in MARKETS])
        self.assess_ratio = np.array([mk[6][5] for mk in MARKETS])
        self.utc_offset = np.array([6 if mk[1] in _CENTRAL_STATES else 5 for mk in MARKETS])
        codes = list(dict.fromkeys([c for mk in MARKETS for c in mk[3]] + list(_OTHER_AREA_CODES)))
        self.area_codes = _obj(codes)
        # County and typed spellings of street parts.
        upper = list(_STREET_NAMES)
        title = [_title(s) for s in upper]
        lower = [s.lower() for s in upper]
        abbr = [a for a, _ in _SUFFIXES]
        full = [f for _, f in _SUFFIXES]
        dabbr = [a for a, _ in _DIRECTIONS]
        dfull = [f for _, f in _DIRECTIONS]

        def spelled(words, fmt):
            return tuple(fmt.format(w) if w else "" for w in words)

        self.county_parts = (spelled(dabbr, "{} "), tuple(upper), spelled(abbr, " {}"))
        # Lead styles: (direction, name, suffix, unit prefix).
        self.lead_styles = (
            (spelled(dfull, "{} "), tuple(title), spelled(full, " {}"), (" Apt ", " Unit ")),
            (spelled([s.lower() for s in dabbr], "{} "), tuple(lower),
             spelled([s.lower() for s in abbr], " {}"), (" #", " apt ")),
            (spelled(dabbr, "{}. "), tuple(title), spelled([s.title() for s in abbr], " {}."),
             (", Unit ", ", Apt ")),
            (spelled(dabbr, "{} "), tuple(title), spelled([s.title() for s in abbr], " {}"),
             (" Apt ", " #")),
            (spelled(dabbr, "{} "), tuple(upper), spelled(abbr, " {}"), (" UNIT ", " APT ")),
            (("",) * len(dabbr), tuple(title), spelled([s.title() for s in abbr], " {}"),
             (" #", " Apt ")),
            (spelled(dabbr, "{} "), tuple(title), ("",) * len(abbr), (" #", " Unit ")),
        )  # fmt: skip
        self.lead_style_share = _p((0.18, 0.18, 0.14, 0.2, 0.12, 0.1, 0.08))


_GEO: _Geo | None = None


def _geo() -> _Geo:
    global _GEO
    if _GEO is None:
        _GEO = _Geo()
    return _GEO
