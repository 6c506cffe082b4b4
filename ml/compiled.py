"""The booster's trees walked by compiled code, for the nightly batch: scores and reasons.

XGBoost's ``pred_contribs(approx_contribs=True)`` cost ~19 CPU-seconds per million leads on
the dev box (228 trees of depth 4), most of a first night's work beyond the read and the
write, and ``inplace_predict`` ~5 CPU-seconds, most of a typical night's. This module
compiles (numba; the machine code is cached next to this file, or in numba's user cache
where that is read-only) one pass over the rows, on every core, that walks each tree of an
``ml.forest.Forest`` (XGBoost's own float32 thresholds and leaf values, read from its JSON
model) and gives each lead's probability and, when asked, the Saabas contribution of each
encoded column from the same walk. Rows are walked 64 at a time, level by level across the
block, so the CPU has 64 independent walks to overlap instead of one dependent chain of loads.

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
) -> None:
    rows, columns = matrix.shape
    trees = split.shape[0]
    n_internal = 2**depth - 1
    n_leaves = 2**depth
    for b in numba.prange((rows + _BLOCK - 1) // _BLOCK):
        start = b * _BLOCK
        n = min(start + _BLOCK, rows) - start
        local = np.empty((columns, _BLOCK), dtype=np.float32)  # the block, column by column
        for c in range(columns):
            for i in range(n):
                local[c, i] = matrix[start + i, c]
        node = np.empty(_BLOCK, dtype=np.int64)
        margin = np.full(_BLOCK, base_margin, dtype=np.float32)
        for t in range(trees):
            node[:n] = 0
            for _ in range(depth):
                for i in range(n):
                    at = node[i]
                    x = local[split[t, at], i]
                    # NaN < threshold is false: a missing value goes left only by default.
                    go_left = (x < threshold[t, at]) | ((x != x) & default_left[t, at])
                    node[i] = 2 * at + 2 - go_left
            for i in range(n):
                leaf = node[i] - n_internal
                margin[i] += leaf_value[t, leaf]
                if explain:
                    path = t * n_leaves + leaf
                    for level in range(path_column.shape[1]):
                        contributions[start + i, path_column[path, level]] += path_delta[
                            path, level
                        ]
        margins[start : start + n] = margin[:n]


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
