"""Reason codes: the few features that pushed a lead's score up most, in business words.

Built for a million leads at a time: the top features come from ``argpartition`` on the
contribution matrix and the JSON text is assembled by Arrow's string kernels, column-wise,
so no Python code runs per lead. Shape of each lead's value (a JSON list, best first)::

    [{"feature": "equity_ratio", "contribution": 0.8123,
      "text": "Equity over estimated value: 0.74"}, …]

Only positive contributions are listed (a reason is something in the lead's favour), so a
lead may have fewer than three, or none.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hk_core.features import Feature

N_REASONS = 3
CONTRIBUTION_DIGITS = 4  # log-odds: more digits are noise to a reader
VALUE_DIGITS = 2
ROUNDABLE_BELOW = 1e15
UNKNOWN_VALUE = "unknown"


def _json_inner(text: str) -> str:
    """``text`` escaped as the inside of a JSON string (no quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _escape(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    # Category values come from sellers' forms: quotes, backslashes, control characters.
    values = pc.replace_substring(values, "\\", "\\\\")
    values = pc.replace_substring(values, '"', '\\"')
    return pc.replace_substring_regex(values, r"[\x00-\x1f]", " ")


def value_text(feature: Feature, column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A feature's values as short words, JSON-escaped (missing → 'unknown')."""
    if feature.kind == "numeric":
        values = column.cast(pa.float64())
        # Arrow's round raises on overflow near ±1.8e308; from 1e15 up a double has no
        # hundredths left to round anyway, and inf/nan are shown as they are.
        small = pc.less(pc.abs(values), ROUNDABLE_BELOW)
        rounded = pc.round(pc.if_else(small, values, 0.0), VALUE_DIGITS)
        text = pc.cast(pc.if_else(small, rounded, values), pa.string())
    elif feature.kind == "boolean":
        text = pc.if_else(column.cast(pa.bool_()), "yes", "no")
    else:
        text = _escape(column.cast(pa.string()))
    return pc.fill_null(text, UNKNOWN_VALUE)


def top_positive(contributions: np.ndarray, n: int = N_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """(feature indices, contributions) of each row's ``n`` largest, largest first."""
    n = min(n, contributions.shape[1])
    top = np.argpartition(-contributions, n - 1, axis=1)[:, :n]
    values = np.take_along_axis(contributions, top, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


def reason_codes_json(
    table: pa.Table,
    contributions: np.ndarray,
    features: tuple[Feature, ...],
    n: int = N_REASONS,
) -> pa.Array:
    """One JSON list (as text) per row of ``table``; ``contributions`` is (rows, features)."""
    rows = table.num_rows
    indices, values = top_positive(contributions, n)
    used = set(np.unique(indices).tolist())
    # pc.choose needs one array per feature; only those some lead's reasons name are built.
    texts = [
        value_text(f, table.column(f.name)).combine_chunks()
        if i in used
        else pa.nulls(rows, pa.string())
        for i, f in enumerate(features)
    ]
    prefixes = pa.array(
        [f'{{"feature": "{_json_inner(f.name)}", "contribution": ' for f in features]
    )
    labels = pa.array([f', "text": "{_json_inner(f.description.rstrip("."))}: ' for f in features])
    listed = pa.repeat("", rows)
    cumulative: pa.Array | None = None
    for slot in range(indices.shape[1]):
        index = pa.array(indices[:, slot])
        amount = pc.cast(pc.round(pa.array(values[:, slot]), CONTRIBUTION_DIGITS), pa.string())
        entry = pc.binary_join_element_wise(
            pc.take(prefixes, index),
            amount,
            pc.take(labels, index),
            pc.choose(index, *texts),
            '"}',
            "",
        )
        cumulative = (
            entry if cumulative is None else pc.binary_join_element_wise(cumulative, entry, ", ")
        )
        # Sorted largest first, so "slot k is positive" implies every earlier slot is too.
        listed = pc.if_else(pa.array(values[:, slot] > 0), cumulative, listed)
    return pc.binary_join_element_wise("[", listed, "]", "")
