"""The API's reason words equal the batch's Arrow kernels, value for value (no Arrow online)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from hk_core.features import FEATURES
from ml.reasons import value_text
from serving.reason_text import arrow_value_text, reason_value_text

NUMERIC = next(f for f in FEATURES if f.kind == "numeric")
BOOLEAN = next(f for f in FEATURES if f.kind == "boolean")
CATEGORICAL = next(f for f in FEATURES if f.kind == "categorical")


def _batch_words(values: list[float]) -> list[str]:
    return value_text(NUMERIC, pa.array(values, pa.float64())).to_pylist()


def _random_numbers(n: int) -> list[float]:
    rng = np.random.default_rng(6)
    magnitudes = 10.0 ** rng.uniform(-8, 22, n)
    signs = rng.choice([-1.0, 1.0], n)
    values = (signs * magnitudes).tolist()
    # Values near ties and round numbers, where rounding modes differ.
    hundredths = rng.integers(-(10**7), 10**7, n // 4)
    values += (hundredths / 100 + 0.005).tolist()  # x.xx5: a tie, or just off one
    values += (hundredths / 1000).tolist()
    values += (rng.integers(-(10**12), 10**12, n // 8) / 4).tolist()
    values += rng.integers(-(10**12), 10**12, n // 8).astype(np.float64).tolist()
    return values


def test_a_million_random_numbers_are_worded_like_the_batch():
    values = _random_numbers(600_000)
    expected = _batch_words(values)
    wrong = [(v, e, reason_value_text(NUMERIC, v)) for v, e in zip(values, expected, strict=True)
             if reason_value_text(NUMERIC, v) != e]  # fmt: skip
    assert len(values) > 1_000_000
    assert wrong[:5] == []


EDGES = [
    0.0, -0.0, 1.0, 100.0, 1.5, 0.125, 0.135, 2.675, 0.005, 0.015, 0.025, -0.005, -0.015,
    1e-7, -1e-7, -0.001, 5e-324, 1e-320, 0.01, 0.1, 0.001, 123456.785,
    999_999_999.994, 999_999_999.995, 1_234_567_890.0, 9_999_999_999.994, 9_999_999_999.996,
    12_345_678_901.0, 1e10, 1e14, 999_999_999_999_999.9, 1e15, -1e15, 1.5e15, 1e16, 1e20, 1e21,
    1e22, 1.7976931348623157e308, -1.7976931348623157e308, 2.0**52 + 0.5, 2.0**53,
]  # fmt: skip


@pytest.mark.parametrize("value", EDGES)
def test_edge_numbers_are_worded_like_the_batch(value):
    shown = reason_value_text(NUMERIC, value)
    assert shown == _batch_words([value])[0]
    assert math.copysign(1, value) > 0 or value != 0 or shown == "-0"


@pytest.mark.parametrize(
    "feature, value",
    [
        (NUMERIC, None), (NUMERIC, 5), (NUMERIC, -(2**53)), (NUMERIC, 2**53),
        (NUMERIC, math.inf), (NUMERIC, -math.inf), (NUMERIC, math.nan),
        (BOOLEAN, True), (BOOLEAN, False), (BOOLEAN, None),
        (CATEGORICAL, "referral"), (CATEGORICAL, None), (CATEGORICAL, ""),
        (CATEGORICAL, 'a "quoted" \\ back\tslash\nnew\x00line\x1f'),
        (CATEGORICAL, "Ünïcode café ☕ and\ttab"),
    ],
)  # fmt: skip
def test_other_values_are_worded_like_the_batch(feature, value):
    assert reason_value_text(feature, value) == arrow_value_text(feature, value)


@pytest.mark.parametrize(
    "feature, value", [(NUMERIC, 2**60), (BOOLEAN, 1), (BOOLEAN, "yes"), (NUMERIC, True)]
)
def test_values_arrow_refuses_or_converts_go_to_arrow(feature, value):
    try:
        expected: str | type = arrow_value_text(feature, value)
    except pa.ArrowInvalid:
        expected = pa.ArrowInvalid
    if expected is pa.ArrowInvalid:
        with pytest.raises(pa.ArrowInvalid):
            reason_value_text(feature, value)
    else:
        assert reason_value_text(feature, value) == expected
