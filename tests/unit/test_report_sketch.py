"""The report's mergeable summaries against exact answers (numpy, pandas): no Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spark_job.report.frequent import CAPACITY, TopValues
from spark_job.report.sketch import ALPHA, QuantileSketch
from spark_job.report.stats import QUANTILES, ColumnStats

QS = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)


def _within_bound(estimate: float, exact: float) -> bool:
    """The sketch's stated bound (module docstring), with float rounding."""
    if abs(exact) < 2.2250738585072014e-308:  # zero and subnormals
        return abs(estimate - exact) < 2.3e-308
    return abs(estimate - exact) <= ALPHA * abs(exact) * (1 + 1e-12)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).normal(50, 10, 20_000),
        np.random.default_rng(2).lognormal(0, 3, 20_000),  # 8+ decades
        np.random.default_rng(3).normal(0, 1, 20_000),  # both signs, around zero
        np.concatenate([np.zeros(500), np.arange(1, 300, dtype=float), -np.ones(10)]),
        np.array([42.0]),
        np.array([1e-300, 5e-310, 1e300, -1e200, 0.0, -0.0, 3.0, -7.5e-12] * 3),
    ],
    ids=["normal", "lognormal", "around_zero", "zeros_ints", "one_value", "extremes"],
)
def test_quantiles_are_within_the_stated_relative_error(values: np.ndarray) -> None:
    sketch = QuantileSketch()
    for part in np.array_split(values, 7):  # several batches
        sketch.add(part)
    assert sketch.count == len(values)
    for q in QS:
        exact = pd.Series(values).quantile(q, interpolation="lower")
        estimate = sketch.quantile(q)
        assert estimate is not None and _within_bound(estimate, exact), (q, estimate, exact)


def test_merging_is_exact_and_independent_of_order_and_split() -> None:
    values = np.random.default_rng(4).gamma(2.0, 3.0, 10_000) - 3
    whole = QuantileSketch()
    whole.add(values)
    shuffled = np.random.default_rng(5).permutation(values)
    merged = QuantileSketch()
    for part in np.array_split(shuffled, 13):
        piece = QuantileSketch()
        piece.add(part)
        merged.merge(piece)
    assert merged.to_json() == whole.to_json()
    again = QuantileSketch.from_json(whole.to_json())
    assert [again.quantile(q) for q in QS] == [whole.quantile(q) for q in QS]


def test_count_at_most_matches_bucket_edges() -> None:
    values = np.arange(1, 1001, dtype=float)
    sketch = QuantileSketch()
    sketch.add(values)
    median = sketch.quantile(0.5)
    assert median is not None
    (below,) = sketch.count_at_most([median])
    exact = int((values <= median).sum())
    # values in the median's bucket are counted with it: at most that bucket's width apart
    assert abs(below - exact) <= int(median * 2 * ALPHA) + 1
    assert sketch.count_at_most([-1.0, 1e9]) == [0, 1000]


def test_top_values_are_exact_below_capacity_and_bounded_above() -> None:
    few = TopValues()
    few.add(pa.array(["a", "b", "a", None, "c", "a"]))
    few.merge(TopValues({"b": 2}))
    assert few.top() == [("a", 3), ("b", 3), ("c", 1)] and few.undercount == 0

    rng = np.random.default_rng(6)
    words = [f"w{int(i)}" for i in rng.zipf(1.3, 50_000) % 5000]
    exact = pd.Series(words).value_counts()
    summary = TopValues()
    for part in np.array_split(np.array(words, dtype=object), 10):
        other = TopValues()
        other.add(pa.array(part.tolist()))
        summary.merge(other)
    assert len(summary.counts) <= CAPACITY
    assert 0 < summary.undercount <= len(words) / (CAPACITY + 1)
    for value, true_count in exact.items():
        kept = summary.counts.get(value, 0)
        assert true_count - summary.undercount <= kept <= true_count
    assert [v for v, _ in summary.top(3)] == list(exact.index[:3])


def test_column_stats_equal_pandas_describe() -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(10, 4, 5000)
    data[rng.choice(5000, 300, replace=False)] = np.nan
    array = pa.array(data, from_pandas=True)  # NaN → null, as Spark hands a NULL
    array = pa.concat_arrays([array, pa.array([float("nan"), None], pa.float64())])
    series = pd.Series(array.to_pandas())
    parts = [ColumnStats.for_type(array.type) for _ in range(3)]
    for stats, chunk in zip(parts, (array.slice(0, 1000), array.slice(1000, 3000),
                                    array.slice(4000)), strict=True):  # fmt: skip
        stats.add(chunk)
    total = parts[0].merge(parts[1]).merge(parts[2])
    summary = total.to_json()
    assert summary["count"] == series.count() and summary["nulls"] == series.isna().sum()
    assert summary["min"] == series.min() and summary["max"] == series.max()
    assert summary["mean"] == pytest.approx(series.mean(), rel=1e-12)
    assert summary["stddev"] == pytest.approx(series.std(), rel=1e-9)
    for q in QUANTILES:
        exact = series.quantile(q, interpolation="lower")
        assert _within_bound(summary["quantiles"][str(q)], exact)


def test_strings_booleans_and_integer_labels() -> None:
    words = ColumnStats.for_type(pa.string())
    words.add(pa.array(["x", "y", None, "x"]))
    assert words.to_json()["top"]["values"] == [["x", 2], ["y", 1]]
    flags = ColumnStats.for_type(pa.bool_())
    flags.add(pa.array([True, False, True, None]))
    top = {"values": [[True, 2], [False, 1]], "undercount": 0}
    assert flags.to_json() == {"kind": "boolean", "count": 3, "nulls": 1, "top": top}
    labels = ColumnStats.for_type(pa.int64(), with_top=True)
    labels.add(pa.array([0, 1, 1, 2, 1]))
    assert labels.to_json()["top"]["values"][0] == [1, 3]
    assert ColumnStats.for_type(pa.float64(), with_top=True).top is None


def test_integer_quantiles_are_exact_while_the_bound_allows_and_within_range() -> None:
    values = np.random.default_rng(8).integers(-40, 45, 3000)
    stats = ColumnStats.for_type(pa.int64())
    stats.add(pa.array(values))
    quantiles = stats.to_json()["quantiles"]
    for q in QUANTILES:  # |x| <= 44 here: within 1/128, the nearest integer is exact
        assert quantiles[str(q)] == pd.Series(values).quantile(q, interpolation="lower")
    big = ColumnStats.for_type(pa.int64())
    big.add(pa.array([1000, 1001, 1002]))
    assert 1000 <= big.to_json()["quantiles"]["0.99"] <= 1002  # kept within [min, max]
