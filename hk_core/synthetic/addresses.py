"""The property address as the seller types it: street styles, typos, stray spaces, city and
state in any case, ZIPs in every shape, and blank parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .arrays import _obj

if TYPE_CHECKING:
    from .chunk import _Chunk


def _typos(values: np.ndarray, idx: np.ndarray, rng, skip_first_word: bool) -> None:
    """Swap, drop or double one letter in each of ``values[idx]``."""
    u = rng.random(len(idx)).tolist()
    kinds = rng.integers(0, 3, len(idx)).tolist()
    for i, uu, kind in zip(idx.tolist(), u, kinds, strict=True):
        s = values[i]
        start = s.find(" ") + 1 if skip_first_word else 0
        letters = [j for j in range(start, len(s)) if s[j].isalpha()]
        if len(letters) < 4:
            continue
        j = letters[int(uu * (len(letters) - 1))]
        if kind == 0 and j + 1 < len(s) and s[j + 1].isalpha():
            s = s[:j] + s[j + 1] + s[j] + s[j + 2 :]
        elif kind == 1:
            s = s[:j] + s[j + 1 :]
        else:
            s = s[:j] + s[j] + s[j:]
        values[i] = s


def address_columns(chunk: _Chunk, cols: dict) -> None:
    """The property_street, property_city, property_state and property_zip columns."""
    rng, n, g, p = chunk.rng, chunk.n, chunk.book.geo, chunk.parcels
    style = rng.choice(len(g.lead_styles), n, p=g.lead_style_share).tolist()
    unit_pick = rng.integers(0, 2, n).tolist()
    streets = _obj(
        [
            f"{num} {st[0][d]}{st[1][nm]}{st[2][sf]}" + (f"{st[3][up]}{unit}" if unit else "")
            for num, d, nm, sf, unit, st, up in zip(
                p.number[:n].tolist(),
                p.dir[:n].tolist(),
                p.name[:n].tolist(),
                p.suffix[:n].tolist(),
                p.unit[:n].tolist(),
                [g.lead_styles[s] for s in style],
                unit_pick,
                strict=True,
            )
        ]
    )
    typo = np.flatnonzero(rng.random(n) < 0.05)
    _typos(streets, typo, rng, skip_first_word=True)
    spaces = np.flatnonzero(rng.random(n) < 0.08)
    where = rng.integers(0, 3, len(spaces)).tolist()
    streets[spaces] = _obj(
        [
            (s.replace(" ", "  ", 1), f"{s} ", f" {s}")[w]
            for s, w in zip(streets[spaces].tolist(), where, strict=True)
        ]
    )
    cols["property_street"] = streets
    market = p.market[:n]
    # City: any case, the odd typo; State: code, lower case or the name; ZIP: 5, +4, etc.
    ccase = rng.choice(4, n, p=[0.6, 0.2, 0.15, 0.05])
    city = g.city[market]
    city = np.where(ccase == 1, g.city_upper[market], city)
    lower = np.flatnonzero(ccase == 2)
    city[lower] = _obj([c.lower() for c in city[lower].tolist()])
    _typos(city, np.flatnonzero(ccase == 3), rng, skip_first_word=False)
    scase = rng.choice(6, n, p=[0.6, 0.1, 0.15, 0.05, 0.05, 0.05])
    state = g.state[market].copy()
    state = np.where(scase == 1, _obj([s.lower() for s in g.state.tolist()])[market], state)
    state = np.where(scase == 2, g.state_name[market], state)
    state = np.where(scase == 3, _obj([s.lower() for s in g.state_name.tolist()])[market], state)
    state = np.where(scase == 4, _obj([f" {s} " for s in g.state.tolist()])[market], state)
    state = np.where(scase == 5, _obj([s.title() for s in g.state.tolist()])[market], state)
    zips = p.zip5[:n].copy()
    wrong = np.flatnonzero(rng.random(n) < 0.02)  # a neighbouring ZIP
    zips[wrong] = _obj(
        [
            f"{int(z) + d:05d}"
            for z, d in zip(
                zips[wrong].tolist(), rng.choice([-1, 1], len(wrong)).tolist(), strict=True
            )
        ]
    )
    zstyle = rng.choice(5, n, p=[0.75, 0.1, 0.03, 0.02, 0.10])
    plus4 = rng.integers(1, 10_000, n)
    zt = zips.copy()
    i = np.flatnonzero(zstyle == 1)
    zt[i] = _obj([f"{z}-{q:04d}" for z, q in zip(zips[i].tolist(), plus4[i].tolist(), strict=True)])
    i = np.flatnonzero(zstyle == 2)
    zt[i] = _obj([f"{z}{q:04d}" for z, q in zip(zips[i].tolist(), plus4[i].tolist(), strict=True)])
    i = np.flatnonzero(zstyle == 3)
    zt[i] = _obj([f"{z}.0" for z in zips[i].tolist()])
    lead_zero = np.flatnonzero(
        np.array([z.startswith("0") for z in zips.tolist()], dtype=bool) & (rng.random(n) < 0.4)
    )
    zt[lead_zero] = _obj([z.lstrip("0") for z in zips[lead_zero].tolist()])
    # Blank parts, keeping the address complete: ZIP, or city and state.
    missing = rng.random(n)
    zt[(zstyle == 4) & (missing < 0.5)] = ""
    no_zip = zt == ""
    city[~no_zip & (missing > 0.95)] = ""
    state[~no_zip & (missing > 0.9) & (missing <= 0.95)] = ""
    cols["property_city"] = city
    cols["property_state"] = state
    cols["property_zip"] = zt
