"""The county assessor's records (properties.csv): the roll's spellings of streets, owners of
record, mailing addresses, building facts, values, sales and distress flags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hk_core.contract import PROPERTY_RECORD_COLUMNS

from .arrays import _blank, _obj
from .defects import spoil_properties
from .geography import _FLAGS, MARKETS
from .people import _FIRST, _LAST
from .times import DAY, _civil

if TYPE_CHECKING:
    from .parcels import _Parcels

IN_ROLL_SHARE = 0.85  # share of lead properties with a county record

# Where absentee owners far away get their mail.
_OUT_OF_AREA = (
    ("LOS ANGELES", "CA", "900"), ("PHOENIX", "AZ", "850"), ("DENVER", "CO", "802"),
    ("CHICAGO", "IL", "606"), ("NEW YORK", "NY", "100"), ("SEATTLE", "WA", "981"),
    ("MIAMI", "FL", "331"), ("CHARLOTTE", "NC", "282"),
)  # fmt: skip
# How the roll spells property types, and its flag words.
_COUNTY_TYPE = (
    ("SFR", "SINGLE FAMILY"), ("DUPLEX", "TRIPLEX", "FOURPLEX", "MFR"), ("CONDOMINIUM", "CONDO"),
    ("TOWNHOUSE",), ("MOBILE HOME",), ("VACANT LAND",),
)  # fmt: skip
_COUNTY_TYPE_FLAT = np.array(
    [row[i % len(row)] for row in _COUNTY_TYPE for i in range(4)], dtype=object
)
_FLAG_WORDS = np.array([w for pair in _FLAGS for w in pair], dtype=object)
# Owners of record: "LAST FIRST M", co-owners, LLCs.
_LLC_WORDS = (
    "BLUE OAK", "LONE STAR", "SUMMIT", "KEYSTONE", "REDBIRD", "IRONWOOD", "MAPLE LEAF",
    "PINNACLE", "HARBOR", "TRINITY", "CORNERSTONE", "BRIGHTPATH", "RIVERSTONE", "OAKMONT",
)  # fmt: skip
_LLC_KINDS = ("HOLDINGS LLC", "PROPERTIES LLC", "INVESTMENTS LLC", "REALTY LLC", "RENTALS LLC")
_OWNER_FIRST = np.array(_FIRST, dtype=object)
_OWNER_LAST = np.array(_LAST, dtype=object)
_MIDDLE = np.array([f" {chr(c)}" for c in range(65, 91)] + [""] * 14, dtype=object)
_CO_OWNER = np.array([f" & {f}" for f in _FIRST] + [""] * (3 * len(_FIRST)), dtype=object)
_LLC_NAMES = np.array([f"{a} {b}" for b in _LLC_KINDS for a in _LLC_WORDS], dtype=object)
_LLC_KIND_OF = np.array([f" {b}" for b in _LLC_KINDS for _ in _LLC_WORDS], dtype=object)


def county_street(parcels: _Parcels, idx: np.ndarray, unit_word: np.ndarray) -> list[str]:
    dirs, names, sufs = parcels.g.county_parts
    return [
        f"{num} {dirs[d]}{names[nm]}{sufs[sf]}"
        + ((f" {w} {u}" if w != "#" else f" #{u}") if u else "")
        for num, d, nm, sf, u, w in zip(
            parcels.number[idx].tolist(),
            parcels.dir[idx].tolist(),
            parcels.name[idx].tolist(),
            parcels.suffix[idx].tolist(),
            parcels.unit[idx].tolist(),
            unit_word.tolist(),
            strict=True,
        )
    ]


def county_columns(
    parcels: _Parcels, rng: np.random.Generator, idx: np.ndarray, defect: np.ndarray
) -> list[np.ndarray]:
    """The county-roll columns of parcels ``idx`` (with their deliberate ``defect``s)."""
    g = parcels.g
    k = len(idx)
    mk = parcels.market[idx]
    cols: dict[str, Any] = {}
    cols["apn"] = parcels.apn[idx]
    street = _obj(county_street(parcels, idx, g.unit_word[mk]))
    cols["street"] = street
    cols["city"] = g.city_upper[mk]
    cols["state"] = g.state[mk]
    zips = parcels.zip5[idx]
    plus4 = np.flatnonzero(rng.random(k) < g.zip4_share[mk])
    zips = zips.copy()
    zips[plus4] = zips[plus4] + "-" + g.pad4[rng.integers(1, 10_000, len(plus4))]
    cols["zip"] = zips
    # Owner of record, "LAST FIRST M" (or "LAST, FIRST M"), LLCs, trusts, estates.
    ot = parcels.owner_type[idx]
    fn = _OWNER_FIRST[parcels.first[idx]]
    ln = _OWNER_LAST[parcels.last[idx]]
    w = rng.integers(0, len(_LLC_NAMES), k)
    middle = _MIDDLE[rng.integers(0, len(_MIDDLE), k)]
    co_owner = _CO_OWNER[rng.integers(0, len(_CO_OWNER), k)]
    names = _blank(k)
    i = np.flatnonzero(ot == 0)
    sep = np.where(g.comma[mk[i]], ", ", " ").astype(object)
    names[i] = ln[i] + sep + fn[i] + middle[i] + co_owner[i]
    i = np.flatnonzero(ot == 1)
    names[i] = np.where(w[i] % 3 > 0, _LLC_NAMES[w[i]], ln[i] + _LLC_KIND_OF[w[i]])
    i = np.flatnonzero(ot == 2)
    names[i] = np.where(
        w[i] % 2 > 0, ln[i] + " FAMILY TRUST", ln[i] + " " + fn[i] + " LIVING TRUST"
    )
    i = np.flatnonzero(ot == 3)
    names[i] = np.where(
        w[i] % 2 > 0, ln[i] + " " + fn[i] + " EST", "ESTATE OF " + fn[i] + " " + ln[i]
    )
    cols["owner_name"] = names
    # Mailing address: the property itself, or elsewhere for absentee owners.
    absentee = parcels.absentee[idx]
    m_street, m_city, m_state = street.copy(), cols["city"].copy(), cols["state"].copy()
    m_zip = parcels.zip5[idx].copy()
    away = np.flatnonzero(absentee)
    kind = rng.choice(3, len(away), p=[0.65, 0.25, 0.10])  # same metro, far away, PO box
    other_m = np.where(kind == 1, rng.integers(0, len(MARKETS), len(away)), mk[away])
    sg = g.street_base[other_m] + (rng.random(len(away)) * g.street_count[other_m]).astype(np.int64)
    num = rng.integers(100, 10_000, len(away))
    dirs, snames, sufs = g.county_parts
    addr = [
        f"{a} {dirs[d]}{snames[nm]}{sufs[sf]}"
        for a, d, nm, sf in zip(
            num.tolist(),
            g.street_dir[sg].tolist(),
            g.street_name[sg].tolist(),
            g.street_suffix[sg].tolist(),
            strict=True,
        )
    ]
    box = (kind == 2).tolist()
    addr = [f"PO BOX {b}" if x else a for a, x, b in zip(addr, box, num.tolist(), strict=True)]
    mcity = g.city_upper[other_m].copy()
    mstate = g.state[other_m].copy()
    mzip = g.street_zip[sg].copy()
    far = np.flatnonzero((kind == 1) & (rng.random(len(away)) < 0.5))
    oa = rng.integers(0, len(_OUT_OF_AREA), len(far)).tolist()
    mcity[far] = _obj([_OUT_OF_AREA[i][0] for i in oa])
    mstate[far] = _obj([_OUT_OF_AREA[i][1] for i in oa])
    mzip[far] = _obj(
        [
            f"{_OUT_OF_AREA[i][2]}{z:02d}"
            for i, z in zip(oa, rng.integers(1, 60, len(far)).tolist(), strict=True)
        ]
    )
    m_street[away] = _obj(addr)
    m_city[away] = mcity
    m_state[away] = mstate
    m_zip[away] = mzip
    cols["owner_mailing_street"] = m_street
    cols["owner_mailing_city"] = m_city
    cols["owner_mailing_state"] = m_state
    cols["owner_mailing_zip"] = m_zip
    # What the assessor knows about the building.
    pt = parcels.ptype[idx]
    land = pt == 5
    variant = rng.integers(0, 4, k)
    cols["property_type"] = _COUNTY_TYPE_FLAT[pt * 4 + variant]

    def num_text(values: np.ndarray, blank_share: float, table: np.ndarray) -> np.ndarray:
        txt = table[values]
        txt[land | (rng.random(k) < blank_share)] = ""
        return txt

    cols["bedrooms"] = num_text(parcels.beds[idx], 0.03, g.num)
    cols["bathrooms"] = num_text((parcels.baths[idx] * 2).astype(np.int64), 0.05, g.halves)
    cols["square_feet"] = num_text(parcels.sqft[idx], 0.03, g.num)
    cols["year_built"] = num_text(parcels.year[idx], 0.04, g.num)
    value = parcels.value[idx]
    assessed = np.round(value * g.assess_ratio[mk] * np.exp(rng.normal(0, 0.08, k)), -1)
    cols["assessed_value"] = _obj(list(map(str, assessed.astype(np.int64).tolist())))
    est = np.round(value * np.exp(rng.normal(0, 0.05, k)), -3).astype(np.int64)
    est_txt = _obj(list(map(str, est.tolist())))
    est_txt[rng.random(k) < 0.03] = ""
    cols["estimated_value"] = est_txt
    sale_ts = parcels.book.horizon - (parcels.sale_years[idx] * 365.25 * DAY).astype(np.int64)
    y, m, d, *_ = _civil(sale_ts)
    us = g.date_style[mk] == 1
    sale = g.num[y] + "-" + g.pad2[m] + "-" + g.pad2[d]
    sale[us] = g.pad2[m[us]] + "/" + g.pad2[d[us]] + "/" + g.num[y[us]]
    cols["last_sale_date"] = sale
    price = parcels.sale_price[idx].astype(np.int64)
    price_txt = _obj(list(map(str, price.tolist())))
    u = rng.random(k)
    price_txt[u < 0.05] = "0"  # quitclaim / family transfer
    price_txt[(u >= 0.05) & (u < 0.13)] = ""
    cols["last_sale_price"] = price_txt
    mort = np.round(parcels.mortgage[idx] * np.exp(rng.normal(0, 0.07, k)), -3).astype(np.int64)
    mort_txt = _obj(list(map(str, mort.tolist())))
    mort_txt[rng.random(k) < 0.12] = ""
    cols["mortgage_balance_estimate"] = mort_txt
    flags = g.flags[mk]
    for name, arr in (
        ("tax_delinquent", parcels.tax_delinquent),
        ("in_foreclosure", parcels.in_foreclosure),
    ):
        txt = _FLAG_WORDS[flags * 2 + ~arr[idx]]
        txt[rng.random(k) < 0.05] = ""
        cols[name] = txt
    spoil_properties(cols, defect)
    blank = _blank(k)
    return [cols.get(c, blank) for c in PROPERTY_RECORD_COLUMNS]
