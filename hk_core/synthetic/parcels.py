"""Parcels, the lead's own and extras without a lead: where, what, worth, owed, owned by whom.

A parcel's address and APN are keyed permutations of its id, so they are unique in the book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .arrays import _p, _permute
from .geography import _HOUSE_NUMBERS
from .people import _FIRST, _LAST
from .vocabulary import PROPERTY_TYPE_SHARE, PROPERTY_TYPES

if TYPE_CHECKING:
    from .book import _Book
    from .geography import _Geo


class _Parcels:
    """Parcels (lead parcels first, then extras): where, what, worth, owed, owned by whom."""

    def __init__(
        self, rng, g: _Geo, book: _Book, ids: np.ndarray, motivation: np.ndarray, n_lead: int
    ):
        n = len(ids)
        self.n = n
        mot = motivation
        is_lead = np.arange(n) < n_lead
        slot = _permute(ids, g.n_slots, book.key_address)
        street_global, local_num = np.divmod(slot, _HOUSE_NUMBERS)
        self.number = local_num + 100
        self.market = g.street_market[street_global]
        self.name = g.street_name[street_global]
        self.suffix = g.street_suffix[street_global]
        self.dir = g.street_dir[street_global]
        self.zip5 = g.street_zip[street_global]
        apn = _permute(ids, 10**10, book.key_apn)
        a, rest = np.divmod(apn, 10**6)
        b, c = np.divmod(rest, 1_000)
        self.apn = g.pad4[a] + "-" + g.pad3[b] + "-" + g.pad3[c]
        # What: type, size, age, condition.
        self.ptype = rng.choice(len(PROPERTY_TYPES), n, p=_p(PROPERTY_TYPE_SHARE))
        unit = np.where(self.ptype == 2, rng.integers(1, 49, n), 0)
        unit = np.where((self.ptype == 3) & (rng.random(n) < 0.2), rng.integers(1, 30, n), unit)
        self.unit = unit
        median_sqft = np.array([1650, 2400, 1000, 1400, 1100, 0])[self.ptype]
        sqft = (median_sqft * np.exp(rng.normal(0, 0.28, n)) / 10).round() * 10
        self.sqft = np.clip(sqft, 400, 99_990).astype(np.int64)
        self.beds = np.clip(np.round(self.sqft / 560 + rng.normal(0, 0.6, n)), 1, 8).astype(int)
        self.baths = np.clip(np.round((self.beds * 0.6 + rng.normal(0.3, 0.4, n)) * 2) / 2, 1, 6)
        horizon_year = int(np.datetime64(book.horizon, "s").astype("datetime64[Y]").astype(int))
        horizon_year += 1970
        self.year = np.clip(rng.normal(1978, 22, n), 1900, horizon_year - 1).astype(int)
        self.year[self.ptype == 4] = np.clip(self.year[self.ptype == 4], 1976, None)
        age = horizon_year - self.year
        cond_p = np.tile(_p((0.1, 0.32, 0.3, 0.2, 0.08)), (n, 1))
        cond_p[age > 50] = _p((0.05, 0.2, 0.32, 0.28, 0.15))
        cond_p[age < 15] = _p((0.3, 0.45, 0.18, 0.05, 0.02))
        cond_p[mot == 6] = _p((0.0, 0.05, 0.25, 0.45, 0.25))  # repairs
        self.condition = (rng.random(n)[:, None] > np.cumsum(cond_p, axis=1)).sum(1).clip(0, 4)
        # Worth: $/sq ft by market, condition; land by the lot.
        cond_factor = np.array([1.12, 1.0, 0.92, 0.8, 0.62])[self.condition]
        type_factor = np.array([1.0, 0.85, 1.05, 1.0, 0.45, 0.0])[self.ptype]
        ppsf = g.ppsf[self.market]
        value = ppsf * self.sqft * type_factor * cond_factor * np.exp(rng.normal(0, 0.22, n))
        land_value = 45_000 * ppsf / 180 * np.exp(rng.normal(0, 0.6, n))
        value = np.where(self.ptype == 5, land_value, value)
        self.value = np.maximum(np.round(value / 1_000) * 1_000, 15_000)
        # Last sale and what is owed.
        years = np.clip(rng.exponential(9.0, n), 0.2, 50)
        years = np.minimum(years, np.maximum(age, 1) + 0.5)
        self.sale_years = years
        self.sale_price = np.round(self.value / 1.04**years * np.exp(rng.normal(0, 0.1, n)), -2)
        free_clear = rng.random(n) < 0.15 + 0.5 * np.minimum(years / 25, 1)
        months = np.minimum(years * 12, 360)
        r = 0.05 / 12
        remaining = 1 - ((1 + r) ** months - 1) / ((1 + r) ** 360 - 1)
        loan = self.sale_price * rng.uniform(0.75, 0.97, n) * remaining
        refi = rng.random(n) < 0.15
        loan = np.where(refi, self.value * rng.uniform(0.5, 0.9, n), loan)
        u = rng.random(n)
        fc = mot == 0
        loan = np.where(fc, self.value * rng.uniform(0.75, 1.2, n), loan)
        free_clear &= ~fc
        fin = (mot == 4) & (u < 0.5)
        loan = np.where(fin, self.value * rng.uniform(0.6, 1.05, n), loan)
        free_clear &= ~fin
        free_clear |= (mot == 2) & (u < 0.7)  # inherited
        free_clear |= (mot == 8) & (u < 0.55)  # tax problems
        div = (mot == 1) & (u < 0.6)
        loan = np.where(div, np.maximum(loan, self.value * rng.uniform(0.4, 0.8, n)), loan)
        self.mortgage = np.where(free_clear, 0.0, np.round(loan, -2))
        # Distress flags: more among lead parcels, most for the matching motivations.
        td = np.where(is_lead, 0.05, 0.03)
        td = np.where(mot == 8, 0.75, np.where(mot == 2, 0.15, np.where(mot == 4, 0.12, td)))
        self.tax_delinquent = rng.random(n) < td
        fc_p = np.where(is_lead, 0.02, 0.01)
        fc_p = np.where(mot == 0, 0.6, np.where(mot == 4, 0.08, fc_p))
        self.in_foreclosure = rng.random(n) < fc_p
        # Owners: 0 person, 1 LLC, 2 trust, 3 estate; absentee owners mail elsewhere.
        otype_p = np.tile(_p((0.8, 0.1, 0.06, 0.04)), (n, 1))
        otype_p[mot == 2] = _p((0.4, 0.0, 0.15, 0.45))
        otype_p[mot == 5] = _p((0.65, 0.3, 0.05, 0.0))
        self.owner_type = (rng.random(n)[:, None] > np.cumsum(otype_p, axis=1)).sum(1).clip(0, 3)
        absentee_p = np.array([0.15, 0.95, 0.4, 0.7])[self.owner_type]
        absentee_p = np.where(is_lead, absentee_p * 1.3, absentee_p)
        absentee_p = np.where(mot == 5, 1.0, np.where(mot == 3, 0.5, absentee_p))
        self.absentee = rng.random(n) < np.minimum(absentee_p, 1.0)
        occ_p = np.where(self.absentee, 0.62, 0.0)  # tenant
        occ_p = np.where(self.absentee & (mot == 5), 0.85, occ_p)
        vac_p = np.where(self.absentee, 1 - occ_p, 0.1)
        vac_p = np.where(~self.absentee & ((mot == 2) | (self.owner_type == 3)), 0.6, vac_p)
        uu = rng.random(n)
        self.occupancy = np.where(uu < occ_p, 1, np.where(uu < occ_p + vac_p, 2, 0))
        self.first = rng.integers(0, len(_FIRST), n)
        self.last = rng.integers(0, len(_LAST), n)
        self.g = g
        self.book = book
