"""What the seller says about the property and the sale, typed as people type: type, size,
age, price, mortgage, condition, occupancy, motivation, timeline, consent and notes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .arrays import _blank, _obj, _p
from .vocabulary import (
    _CONSENT,
    _CONSENT_SHARE,
    _NOTES,
    _ODD_CONDITION,
    _ODD_MOTIVATION,
    _ODD_OCCUPANCY,
    _ODD_PROPERTY_TYPE,
    _ODD_TIMELINE,
    _TYPED_CONDITION,
    _TYPED_MOTIVATION,
    _TYPED_OCCUPANCY,
    _TYPED_PROPERTY_TYPE,
    _TYPED_TIMELINE,
    ODD_VALUE_SHARE,
)

if TYPE_CHECKING:
    from .chunk import _Chunk


def _typed(
    rng,
    truth: np.ndarray,
    table: Sequence[Sequence[str]],
    odd: Sequence[str],
    stated: np.ndarray,
    canonical_share: float = 0.5,
) -> np.ndarray:
    """The latent category ``truth`` as people type it; blank where not ``stated``."""
    n = len(truth)
    out = _blank(n)
    flat = [s for row in table for s in row]
    start = np.cumsum([0] + [len(row) for row in table])[:-1]
    width = np.array([len(row) for row in table])
    k = np.where(
        rng.random(n) < canonical_share, 0, (rng.random(n) * width[truth]).astype(np.int64)
    )
    chosen = _obj(flat)[start[truth] + k]
    odd_mask = rng.random(n) < ODD_VALUE_SHARE
    chosen[odd_mask] = _obj(odd)[rng.integers(0, len(odd), int(odd_mask.sum()))]
    out[stated] = chosen[stated]
    return out


def _money_text(rng, amounts: np.ndarray) -> list[str]:
    styles = rng.choice(6, len(amounts), p=_p((0.3, 0.15, 0.25, 0.15, 0.05, 0.1)))
    formats = (
        "${:,}".format,
        lambda v: f"{v // 1000}k",
        str,
        "{:,}".format,
        lambda v: f"${v // 1000}k",
        "{}.00".format,
    )
    return [
        "0" if v == 0 else formats[s](v) if v % 1000 == 0 or s not in (1, 4) else f"${v:,}"
        for s, v in zip(styles.tolist(), amounts.tolist(), strict=True)
    ]


def seller_columns(chunk: _Chunk, cols: dict) -> None:
    """The property_type .. notes columns: the seller's description, where stated."""
    rng, n, p = chunk.rng, chunk.n, chunk.parcels
    src = chunk.source
    sparse = src == 6  # list imports carry little seller input
    stated_rate = np.where(sparse, 0.15, 1.0)

    def stated(rate: float) -> np.ndarray:
        return rng.random(n) < rate * stated_rate

    ptype = p.ptype[:n]
    land = ptype == 5
    cols["property_type"] = _typed(
        rng, ptype, _TYPED_PROPERTY_TYPE, _ODD_PROPERTY_TYPE, stated(0.65)
    )
    beds = p.beds[:n] + np.where(rng.random(n) < 0.1, rng.choice([-1, 1], n), 0)
    beds = np.maximum(beds, 0)
    bstyle = rng.random(n) < 0.05
    txt = _obj(
        [f"{b}.0" if s else str(b) for b, s in zip(beds.tolist(), bstyle.tolist(), strict=True)]
    )
    cols["bedrooms"] = np.where(stated(0.7) & ~land, txt, "")
    baths = p.baths[:n]
    txt = _obj([f"{b:g}" for b in baths.tolist()])
    cols["bathrooms"] = np.where(stated(0.55) & ~land, txt, "")
    sqft = p.sqft[:n]
    approx = np.where(rng.random(n) < 0.5, np.round(sqft / 100) * 100, sqft).astype(int)
    comma = rng.random(n) < 0.4
    txt = _obj(
        [f"{s:,}" if c else str(s) for s, c in zip(approx.tolist(), comma.tolist(), strict=True)]
    )
    cols["square_feet"] = np.where(stated(0.4) & ~land, txt, "")
    year = np.where(rng.random(n) < 0.3, p.year[:n] // 5 * 5, p.year[:n])
    cols["year_built"] = np.where(stated(0.3) & ~land, _obj([str(y) for y in year.tolist()]), "")
    ask = np.round(p.value[:n] * chunk.asking_ratio / 5_000).astype(np.int64) * 5_000
    ask = np.maximum(ask, 5_000)
    cols["asking_price"] = np.where(stated(0.55), _obj(_money_text(rng, ask)), "")
    mort = (np.round(p.mortgage[:n] * np.exp(rng.normal(0, 0.08, n)) / 1_000) * 1_000).astype(
        np.int64
    )
    cols["mortgage_balance"] = np.where(stated(0.35), _obj(_money_text(rng, mort)), "")
    cols["condition"] = _typed(rng, p.condition[:n], _TYPED_CONDITION, _ODD_CONDITION, stated(0.65))
    cols["occupancy"] = _typed(rng, p.occupancy[:n], _TYPED_OCCUPANCY, _ODD_OCCUPANCY, stated(0.6))
    cols["motivation"] = _typed(
        rng, chunk.motivation, _TYPED_MOTIVATION, _ODD_MOTIVATION, stated(0.75)
    )
    cols["timeline"] = _typed(rng, chunk.timeline, _TYPED_TIMELINE, _ODD_TIMELINE, stated(0.75))
    consent = _obj(_CONSENT)
    cols["consent_email"] = consent[rng.choice(len(_CONSENT), n, p=_p(_CONSENT_SHARE))]
    cols["consent_sms"] = consent[rng.choice(len(_CONSENT), n, p=_p(_CONSENT_SHARE))]
    notes = _obj(_NOTES)[rng.integers(0, len(_NOTES), n)]
    cols["notes"] = np.where(rng.random(n) < 0.15, notes, "")
