"""Small vectorised helpers: object arrays, shares, title case and a keyed permutation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _obj(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _blank(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = ""
    return out


def _put(out: np.ndarray, idx: np.ndarray, values: list) -> None:
    if len(idx):
        out[idx] = _obj(values)


def _p(shares: Sequence[float]) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return p / p.sum()


def _title(word: str) -> str:
    return " ".join(w.lower() if w[:1].isdigit() else w.capitalize() for w in word.split())


def _permute(x: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed pseudo-random bijection of [0, n) (so distinct x give distinct results)."""
    bits = max(8, int(n - 1).bit_length())
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2 + 1)
    keys = [np.uint64(k) & mask for k in np.random.default_rng(key).integers(0, 2**62, 6)]
    mults = [
        np.uint64(m | 1) & mask
        for m in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
    ]

    def mix(y: np.ndarray) -> np.ndarray:
        for r in range(3):
            y = (y + keys[2 * r]) & mask
            y = (y * mults[r]) & mask
            y = y ^ (y >> half)
            y = y ^ keys[2 * r + 1]
        return y

    out = mix(np.asarray(x, dtype=np.uint64) % np.uint64(n))
    todo = np.flatnonzero(out >= np.uint64(n))
    while len(todo):  # cycle-walk back into range
        out[todo] = mix(out[todo])
        todo = todo[out[todo] >= np.uint64(n)]
    return out.astype(np.int64)
