"""Statistics of one column, computed on whole Arrow arrays and merged across batches and tasks.

- numbers (integers, floats, decimals): count, nulls (NaN counted as null, as pandas does),
  min, max, mean, sample standard deviation (exact: moments merged with Chan's formula),
  quantiles from a :class:`~spark_job.report.sketch.QuantileSketch`; infinities are counted
  apart and left out of the rest; with ``with_top`` (an integer prediction: class labels) also
  top values;
- strings and booleans: count, nulls, top values (:class:`~spark_job.report.frequent.TopValues`);
- dates and timestamps: count, nulls, min, max;
- anything else (arrays, maps, structs as features): count and nulls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_job.report.frequent import TopValues
from spark_job.report.scratch import scratch
from spark_job.report.sketch import ALPHA, QuantileSketch

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def column_kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_temporal(arrow_type) and not pa.types.is_duration(arrow_type):
        return "temporal"
    return "other"


@dataclass
class Moments:
    """Count, mean and sum of squared deviations, mergeable (Chan et al.), and the range."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: np.ndarray, total: float | None = None) -> None:
        """Count finite ``values`` in; ``total``: their sum, when the caller has it."""
        n = len(values)
        if n:
            mean = (float(values.sum()) if total is None else total) / n
            if not math.isfinite(mean):  # the sum overflowed (values near the float limit)
                mean = float(np.sum(values / n))
            deviations = np.subtract(values, mean, out=scratch(n).view(np.float64))
            m2 = float(np.square(deviations, out=deviations).sum())  # not np.dot: BLAS threads
            self.merge(Moments(n, mean, m2, float(values.min()), float(values.max())))

    def merge(self, other: Moments) -> Moments:
        if not other.n:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * (other.n / n)  # weights first: no overflow near the float limit
        self.m2 += other.m2 + delta * delta * (self.n * other.n / n)
        self.n = n
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        return self

    @property
    def stddev(self) -> float | None:
        """None also when the squared deviations overflow a float (values near its limit)."""
        if self.n < 2 or not math.isfinite(self.m2):
            return None
        return math.sqrt(self.m2 / (self.n - 1))


@dataclass
class ColumnStats:
    kind: str
    rows: int = 0
    nulls: int = 0
    infinite: int = 0
    with_top: bool = False
    integer: bool = False  # integer values: quantiles rounded where the bound makes it exact
    moments: Moments = field(default_factory=Moments)
    sketch: QuantileSketch = field(default_factory=QuantileSketch)
    top: TopValues | None = None
    #: temporal columns: the earliest and latest value (as pyarrow gives them)
    first: Any = None
    last: Any = None

    @classmethod
    def for_type(cls, arrow_type: pa.DataType, with_top: bool = False) -> ColumnStats:
        kind = column_kind(arrow_type)
        wants_top = kind in ("string", "boolean") or (
            with_top and kind == "number" and pa.types.is_integer(arrow_type)
        )
        top = TopValues() if wants_top else None
        return cls(kind, with_top=wants_top, integer=pa.types.is_integer(arrow_type), top=top)

    def add(self, array: pa.Array | pa.ChunkedArray) -> None:
        """Count ``array`` in (one batch's column)."""
        self.rows += len(array)
        nulls = array.null_count
        if self.kind == "number":
            present = array.drop_null() if nulls else array
            if pa.types.is_decimal(present.type):
                present = present.cast(pa.float64())
            values = present.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            values, total, nan, infinite = _finite(values)
            nulls += nan
            self.infinite += infinite
            self.moments.add(values, total)
            self.sketch.add(values)
            if self.top is not None:
                self.top.add(present)
        elif self.kind == "temporal":
            bounds = pc.min_max(array)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is not None:
                self.first = low if self.first is None else min(self.first, low)
                self.last = high if self.last is None else max(self.last, high)
        elif self.top is not None:
            self.top.add(array)
        self.nulls += nulls

    def merge(self, other: ColumnStats) -> ColumnStats:
        self.rows += other.rows
        self.nulls += other.nulls
        self.infinite += other.infinite
        self.moments.merge(other.moments)
        self.sketch.merge(other.sketch)
        if self.top is not None and other.top is not None:
            self.top.merge(other.top)
        for value in (other.first, other.last):
            if value is not None:
                self.first = value if self.first is None else min(self.first, value)
                self.last = value if self.last is None else max(self.last, value)
        return self

    def to_json(self) -> dict[str, Any]:
        """The column's summary as the report holds it (the sketches included, so that a later
        run can compare itself with this one)."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "count": self.rows - self.nulls,
            "nulls": self.nulls,
        }
        if self.kind == "number":
            m = self.moments
            data.update(
                infinite=self.infinite,
                min=m.low if m.n else None,
                max=m.high if m.n else None,
                mean=m.mean if m.n else None,
                stddev=m.stddev,
                quantiles=dict(zip(map(str, QUANTILES), self._quantiles(), strict=True)),
                sketch=self.sketch.to_json(),
            )
        if self.kind == "temporal":
            data.update(min=_iso(self.first), max=_iso(self.last))
        if self.top is not None:
            data["top"] = self.top.to_json()
        return data

    def _quantiles(self) -> list[float | None]:
        """The sketch's ``QUANTILES``, kept within [min, max] (the true ones are); for
        integers, rounded when ``α |x̃| / (1 − α) < 0.5`` (then the nearest integer is the
        exact one)."""
        return [self._bounded(value) for value in self.sketch.quantiles(QUANTILES)]

    def _bounded(self, value: float | None) -> float | None:
        if value is None:
            return None
        value = min(max(value, self.moments.low), self.moments.high)
        if self.integer and ALPHA * abs(value) / (1 - ALPHA) < 0.5:
            value = float(round(value))
        return value

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnStats:
        """The parts of a summary that drift needs: counts, sketch and top values."""
        stats = cls(str(data["kind"]), nulls=int(data.get("nulls", 0)))
        stats.rows = int(data.get("count", 0)) + stats.nulls
        if "sketch" in data:
            stats.sketch = QuantileSketch.from_json(data["sketch"])
        if "top" in data:
            stats.top = TopValues.from_json(data["top"])
        return stats


def _finite(values: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """The finite ``values``, their sum, and how many were NaN and infinite. The sum comes
    first: when it is finite, so is every value, and no mask is built (the usual batch)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, a sum beyond float64
        total = float(values.sum())
        if math.isfinite(total):
            return values, total, 0, 0
        nan = int(np.isnan(values).sum())
        kept = values[np.isfinite(values)]
        return kept, float(kept.sum()), nan, len(values) - nan - len(kept)


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def observe(columns: dict[str, ColumnStats], name: str, array: Any, with_top: bool) -> None:
    """Count ``array`` into ``columns[name]`` (created from its type on first sight)."""
    stats = columns.get(name)
    if stats is None:
        stats = columns[name] = ColumnStats.for_type(array.type, with_top)
    stats.add(array)


def merge_columns(mine: dict[str, ColumnStats], theirs: dict[str, ColumnStats]) -> None:
    for name, stats in theirs.items():
        if name in mine:
            mine[name].merge(stats)
        else:
            mine[name] = stats
