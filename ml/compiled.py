"""The booster's trees walked by compiled code, for the nightly batch: scores and reasons.

XGBoost's ``pred_contribs(approx_contribs=True)`` cost ~19 CPU-seconds per million leads on
the dev box (228 trees of depth 4), most of a first night's work beyond the read and the
write, and ``inplace_predict`` ~5 CPU-seconds, most of a typical night's. This module
compiles (numba; the machine code is cached next to this file, or in numba's user cache
where that is read-only) one pass over the rows, on every core, that walks each tree of an
``ml.forest.Forest`` (XGBoost's own float32 thresholds and leaf values, read from its JSON
model) and gives each lead's probability and, when asked, the Saabas contribution of each
encoded column from the same walk. Rows are copied to float32 64 at a time and walked four
at a time, each tree root to leaf for the four rows together, so the CPU has four independent
chains of loads to overlap instead of one (0.21 s per 200,000 leads on both cores of the dev
box, against 0.25-0.30 s walking the 64 rows level by level, the previous layout).

The arithmetic is XGBoost's: the value rounded to float32 and compared ``<`` with the float32
threshold, a missing value sent the node's default way, the margin summed in float32 from
the base margin tree by tree in order, then a float32 logistic (NumPy's, as ``ml.forest``
takes it). Scores equal ``ml.forest``'s (the online API's) bit for bit and
``inplace_predict``'s to float32 rounding (tested to 1e-6); contributions are
``ml.forest``'s float64 path credits, which equal XGBoost's float32 ``approx_contribs`` to
~1e-6 and the online API's bit for bit in practice (tested).

numba's default threading layer must not be entered by two threads at once, so every call
holds one process-wide lock.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from ml.forest import Forest

_BLOCK = 64
_LOCK = threading.Lock()


@numba.njit(cache=True, nogil=True, inline="always")
def _credit(contributions, row, path, path_column, path_delta):  # pragma: no cover
    for level in range(path_column.shape[1]):
        contributions[row, path_column[path, level]] += path_delta[path, level]


@numba.njit(parallel=True, cache=True, nogil=True)
def _score(  # noqa: PLR0913 -- a compiled kernel takes its arrays one by one
    matrix: np.ndarray,
    split: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    leaf_value: np.ndarray,
    base_margin: np.float32,
    depth: int,
    path_column: np.ndarray,
    path_delta: np.ndarray,
    explain: bool,
    margins: np.ndarray,
    contributions: np.ndarray,
) -> None:  # pragma: no cover
    rows, columns = matrix.shape
    trees = split.shape[0]
    n_internal = 2**depth - 1
    n_leaves = 2**depth
    for b in numba.prange((rows + _BLOCK - 1) // _BLOCK):
        start = b * _BLOCK
        n = min(start + _BLOCK, rows) - start
        # The block as float32 rows (XGBoost compares in float32); rows past the end are 0.
        local = np.zeros((_BLOCK, columns), dtype=np.float32)
        for c in range(columns):
            for i in range(n):
                local[i, c] = matrix[start + i, c]
        # Four rows at a time, each tree walked root to leaf for all four: four independent
        # chains of loads for the CPU to overlap, the margins kept in registers.
        for i in range(0, n, 4):
            m0 = m1 = m2 = m3 = base_margin
            for t in range(trees):
                a0 = a1 = a2 = a3 = 0
                for _ in range(depth):
                    # NaN < threshold is false: a missing value goes left only by default.
                    x = local[i, split[t, a0]]
                    a0 = 2 * a0 + 2 - ((x < threshold[t, a0]) | ((x != x) & default_left[t, a0]))
                    x = local[i + 1, split[t, a1]]
                    a1 = 2 * a1 + 2 - ((x < threshold[t, a1]) | ((x != x) & default_left[t, a1]))
                    x = local[i + 2, split[t, a2]]
                    a2 = 2 * a2 + 2 - ((x < threshold[t, a2]) | ((x != x) & default_left[t, a2]))
                    x = local[i + 3, split[t, a3]]
                    a3 = 2 * a3 + 2 - ((x < threshold[t, a3]) | ((x != x) & default_left[t, a3]))
                a0 -= n_internal
                a1 -= n_internal
                a2 -= n_internal
                a3 -= n_internal
                m0 += leaf_value[t, a0]
                m1 += leaf_value[t, a1]
                m2 += leaf_value[t, a2]
                m3 += leaf_value[t, a3]
                if explain:
                    row = start + i
                    _credit(contributions, row, t * n_leaves + a0, path_column, path_delta)
                    if i + 1 < n:
                        _credit(contributions, row + 1, t * n_leaves + a1, path_column, path_delta)
                    if i + 2 < n:
                        _credit(contributions, row + 2, t * n_leaves + a2, path_column, path_delta)
                    if i + 3 < n:
                        _credit(contributions, row + 3, t * n_leaves + a3, path_column, path_delta)
            margins[start + i] = m0
            if i + 1 < n:
                margins[start + i + 1] = m1
            if i + 2 < n:
                margins[start + i + 2] = m2
            if i + 3 < n:
                margins[start + i + 3] = m3


class CompiledForest:
    """Batch scores and Saabas contributions of one booster, compiled."""

    def __init__(self, forest: Forest):
        self.forest = forest

    def _run(self, matrix: np.ndarray, explain: bool) -> tuple[np.ndarray, np.ndarray]:
        f = self.forest
        rows = matrix.shape[0]
        margins = np.empty(rows, dtype=np.float32)
        contributions = np.zeros((rows if explain else 0, f.n_columns), dtype=np.float64)
        if rows:
            if matrix.shape[1] != f.n_columns:
                raise ValueError(
                    f"{matrix.shape[1]} encoded columns, the booster has {f.n_columns}"
                )
            path_column, path_delta = f.leaf_paths
            with _LOCK:
                _score(matrix, f.split_column, f.threshold, f.default_left, f.leaf_value,
                       np.float32(f.base_margin), f.depth, path_column, path_delta,
                       explain, margins, contributions)  # fmt: skip
        # The logistic as ml.forest takes it (NumPy's float32 exp), so the batch and the
        # online API give the same number.
        one = np.float32(1.0)
        return (one / (one + np.exp(-margins))).astype(np.float64), contributions

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """P(conversion) per row of an encoded matrix."""
        return self._run(matrix, explain=False)[0]

    def predict_with_contributions(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(conversion), Saabas contribution per encoded column) per row, one walk."""
        return self._run(matrix, explain=True)
