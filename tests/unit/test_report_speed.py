"""The report's fast paths against the plain formulas they replace (issue 17, item 5): no Spark.

The sketch counts a batch on ``bits >> 46`` (one sign) or on the stored key (both signs) into a
dense array; the statistics skip the NaN/infinity filter when the batch's sum is finite; the
JSON text writes long lists of numbers on one line. Each must give what the plain formula gives.
"""

from __future__ import annotations

import json
import pickle
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spark_job.report.document import to_json_text
from spark_job.report.sketch import (
    QuantileSketch,
    batch_counts,
    bucket_keys,
    stored_keys,
)
from spark_job.report.stats import ColumnStats

_RNG = np.random.default_rng(17)
_SUBNORMALS = np.array([5e-324, -5e-324, 2.2e-308, -1.5e-310, 1e-320])
_EDGES = np.array([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 1.7976931348623157e308, 2.0**-1022])


def _random_bits(n: int) -> np.ndarray:
    """Floats from random bit patterns (every exponent and sign), NaN and infinities out."""
    values = np.frombuffer(_RNG.bytes(8 * n), dtype=np.float64)
    return values[np.isfinite(values)]


def _reference(values: np.ndarray) -> tuple[list[int], list[int]]:
    """The sketch's buckets by the plain formula: distinct ``bucket_keys``, counted."""
    keys, counts = np.unique(bucket_keys(values), return_counts=True)
    return keys.tolist(), counts.tolist()


CASES = {
    "normal_both_signs": _RNG.normal(0, 1, 50_000),
    "positive": _RNG.random(50_000),
    "negative": -_RNG.lognormal(0, 4, 50_000),
    "random_bits": _random_bits(50_000),
    "zeros_and_subnormals": np.concatenate([np.zeros(10), -np.zeros(3), _SUBNORMALS]),
    "positive_zero_and_subnormals": np.array([0.0, 5e-324, 1e-310, 3.0]),
    "negative_zero_only": np.array([-0.0, -0.0]),
    "edges": _EDGES,
    "one_value": np.array([-42.5]),
}


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
def test_stored_keys_of_the_shifted_bits_equal_bucket_keys(values: np.ndarray) -> None:
    shifted = values.view(np.int64) >> 46
    assert np.array_equal(stored_keys(shifted), bucket_keys(values))


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
def test_batch_counts_equal_the_plain_formula(values: np.ndarray) -> None:
    first, step, counts = batch_counts(values)
    keys = first + step * np.arange(len(counts))
    present = counts > 0
    assert (keys[present].tolist(), counts[present].tolist()) == _reference(values)
    assert values.view(np.int64).tolist() == values.copy().view(np.int64).tolist()  # untouched


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
def test_sketch_equals_the_plain_formula_in_any_split_and_after_pickling(
    values: np.ndarray,
) -> None:
    keys, counts = _reference(values)
    expected = {"alpha": 2.0**-7, "keys": keys, "counts": counts}
    shuffled = np.random.default_rng(3).permutation(values)
    merged = QuantileSketch()
    for part in np.array_split(shuffled, 5):  # some parts empty for the small cases
        piece = QuantileSketch()
        piece.add(part)
        merged.merge(pickle.loads(pickle.dumps(piece)))  # as a task sends it
    whole = QuantileSketch()
    whole.add(values)
    assert merged.to_json() == expected and whole.to_json() == expected
    assert merged.count == len(values)


def test_a_sketch_pickles_as_its_buckets_only() -> None:
    sketch = QuantileSketch()
    sketch.add(np.array([1e-300, 1e300]))  # the dense array spans nearly every key
    assert len(pickle.dumps(sketch)) < 1_000
    assert pickle.loads(pickle.dumps(sketch)).to_json() == sketch.to_json()


def test_from_json_adds_up_repeated_keys_in_any_order() -> None:
    data = {"alpha": 2.0**-7, "keys": [130000, 12, 130000, 7], "counts": [1, 2, 3, 4]}
    sketch = QuantileSketch.from_json(data)
    assert sketch.to_json()["keys"] == [7, 12, 130000]
    assert sketch.to_json()["counts"] == [4, 2, 4]
    for keys in ([-1], [2**18], [10**15]):  # not a stored key: refused, nothing allocated
        with pytest.raises(ValueError, match="out of range"):
            QuantileSketch.from_json({**data, "keys": keys, "counts": [1]})
    with pytest.raises(ValueError, match="one count per key"):
        QuantileSketch.from_json({**data, "counts": [1]})


def _series(array: pa.Array | pa.ChunkedArray) -> pd.Series:
    """As pandas sees the column: nulls and NaN missing."""
    return pd.Series(array.to_pandas(), dtype="float64")


BATCHES = {
    "nan_inf_nulls": pa.array(
        [1.5, None, float("nan"), float("inf"), -2.0, float("-inf"), 3.25, None, 0.0],
        pa.float64(),
    ),
    "no_nulls": pa.array(_RNG.normal(5, 2, 10_000)),
    "only_nan": pa.array([float("nan"), float("nan")]),
    "integers_with_nulls": pa.array([3, None, -7, 12, None, 0], pa.int64()),
    "int32": pa.array(_RNG.integers(-1000, 1000, 5_000), pa.int32()),
    "decimals": pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal128(5, 2)),
    "chunked": pa.chunked_array([[1.0, float("nan")], [None, 4.0, float("inf")]], pa.float64()),
    "empty": pa.array([], pa.float64()),
}


@pytest.mark.parametrize("array", BATCHES.values(), ids=BATCHES.keys())
def test_number_stats_equal_pandas(array: pa.Array | pa.ChunkedArray) -> None:
    stats = ColumnStats.for_type(array.type)
    for start in range(0, max(len(array), 1), 3):  # batches of three rows
        stats.add(array.slice(start, 3))
    summary = stats.to_json()
    every = _series(array)
    series = every[~np.isinf(every)]  # the report leaves infinities out of the rest
    assert summary["count"] == every.count() and summary["nulls"] == every.isna().sum()
    assert summary["infinite"] == np.isinf(every).sum()
    if series.count():
        assert summary["min"] == series.min() and summary["max"] == series.max()
        assert summary["mean"] == pytest.approx(series.mean(), rel=1e-12)
    else:
        assert summary["min"] is summary["mean"] is None
    if series.count() > 1:
        assert summary["stddev"] == pytest.approx(series.std(), rel=1e-9)
    else:
        assert summary["stddev"] is None


def test_columns_counted_in_turn_do_not_share_scratch_state() -> None:
    """The batch temporaries are reused: columns counted in turn equal columns counted alone."""
    left, right = _RNG.normal(0, 1, 3_000), _RNG.lognormal(2, 1, 5_000)
    together = [ColumnStats.for_type(pa.float64()) for _ in range(2)]
    for start in range(0, 5_000, 1_000):
        together[0].add(pa.array(left[start : start + 1_000]))
        together[1].add(pa.array(right[start : start + 1_000]))
    for values, stats in zip((left, right), together, strict=True):
        alone = ColumnStats.for_type(pa.float64())
        alone.add(pa.array(values))
        assert stats.to_json()["sketch"] == alone.to_json()["sketch"]
        assert stats.to_json()["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats.to_json()["stddev"] == pytest.approx(values.std(ddof=1), rel=1e-9)


def test_json_text_loads_as_the_document_with_long_lists_on_one_line() -> None:
    document = {
        "features": {"x": {"sketch": {"keys": list(range(100)), "counts": [1] * 100}}},
        "labels": ["a"] * 50,  # strings stay one per line
        "mixed": [1, "b"] * 20,
        "short": [1.5, 2.5],
        "tricky": "\0 looks like a placeholder: 0",
        "flags": [True] * 40,  # booleans are not numbers here
        "nested": [[1, 2]] * 40,
    }
    text = to_json_text(document)
    assert json.loads(text) == document
    assert '"keys": [0, 1, 2,' in text and text.endswith("}\n")
    assert '\n   "a",\n' in text or '\n  "a",\n' in text
    with pytest.raises(ValueError):
        to_json_text({"counts": [float("nan")] * 40})


def test_values_near_the_float_limit_keep_a_finite_mean_and_a_writable_summary() -> None:
    """A batch whose sum overflows still gets its mean; a stddev whose squares overflow is
    left out (None), so the report can be written as JSON (which has no infinity)."""
    values = [1.7e308, 1.7e308, -1.0e308]
    stats = ColumnStats.for_type(pa.float64())
    stats.add(pa.array(values))
    summary = stats.to_json()
    assert summary["mean"] == pytest.approx(np.mean(np.array(values) / 3) * 3)
    assert summary["max"] == 1.7e308 and summary["stddev"] is None
    json.dumps(summary, allow_nan=False)
