"""A mergeable quantile sketch with a relative-error guarantee (log-linear buckets).

Each task sketches its own values; the driver adds the sketches up. Merging is an exact sum of
bucket counts, so the result does not depend on how the rows were split into tasks or batches,
nor on their order (a reshuffled input gives the very same sketch).

**Buckets.** A float64 value's bucket is its sign, its binary exponent and the top
``MANTISSA_BITS`` = 6 bits of its mantissa: read straight from the IEEE 754 bits with integer
operations (no logarithm), so each power-of-two range is cut into 64 equal buckets
(HdrHistogram's layout; DDSketch's idea of relative-error buckets). A bucket stands for its
midpoint, which is within ``ALPHA`` = 1/128 (0.78 %) of every value in it, relative to the
value. Zero has a bucket of its own (exact).

**Error bound.** For ``q`` in [0, 1] and ``n`` values, let ``x`` be the value of 0-based rank
``floor(q (n − 1))`` in sorted order (pandas' ``quantile(q, interpolation="lower")``). Then
:meth:`QuantileSketch.quantile` returns ``x̃`` with ``|x̃ − x| <= ALPHA |x|`` for every normal
float (``|x| >= 2.2e-308``; subnormals: ``|x̃ − x| < 2.3e-308``). There is no size limit to
give up the bound for: a sketch holds at most one bucket per 64th of a binade its values use
(a column spanning 1e-6 … 1e6 on both signs: about 5,000 buckets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MANTISSA_BITS = 6
ALPHA = 2.0 ** -(MANTISSA_BITS + 1)
_SHIFT = 52 - MANTISSA_BITS
_MAGNITUDE = np.int64(0x7FFF_FFFF_FFFF_FFFF)
_MIDPOINT = np.int64(1 << (_SHIFT - 1))
#: Consolidate the batches' bucket counts after this many (a task's memory stays small).
_PENDING = 32


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """Each finite float's bucket: ``magnitude bucket << 1 | sign`` (int64, >= 0)."""
    bits = values.view(np.int64)
    return (((bits & _MAGNITUDE) >> _SHIFT) << 1) | ((bits >> 63) & 1)


def bucket_values(keys: np.ndarray) -> np.ndarray:
    """The value that stands for each bucket: its midpoint (0.0 for zero's bucket)."""
    magnitude = keys >> 1
    bits = (magnitude << _SHIFT) | _MIDPOINT
    values = bits.view(np.float64).copy()
    values[magnitude == 0] = 0.0
    return np.where(keys & 1, -values, values)


class QuantileSketch:
    """Counts of finite values per bucket (sparse: keys ascending); see the module docstring."""

    def __init__(self, keys: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        self._keys = keys if keys is not None else np.zeros(0, dtype=np.int64)
        self._counts = counts if counts is not None else np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        """Add finite float64 values (NaN and infinities must be filtered out first)."""
        if not len(values):
            return
        keys = bucket_keys(np.ascontiguousarray(values, dtype=np.float64))
        low = keys.min()
        dense = np.bincount(keys - low)
        present = np.flatnonzero(dense)
        self._pending.append((present.astype(np.int64) + low, dense[present]))
        if len(self._pending) >= _PENDING:
            self._consolidate()

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        keys, counts = other._parts()
        self._pending.append((keys, counts))
        self._consolidate()
        return self

    def _consolidate(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
        counts = np.concatenate([self._counts, *(c for _, c in self._pending)])
        self._pending = []
        self._keys, inverse = np.unique(keys, return_inverse=True)
        self._counts = np.bincount(inverse, weights=counts, minlength=len(self._keys)).astype(
            np.int64
        )

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        self._consolidate()
        return self._keys, self._counts

    @property
    def count(self) -> int:
        return int(self._parts()[1].sum())

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket values ascending, with their counts."""
        keys, counts = self._parts()
        values = bucket_values(keys)
        order = np.argsort(values, kind="stable")
        return values[order], counts[order]

    def buckets(self) -> list[tuple[float, int]]:
        """(bucket value, count) of every non-empty bucket, values ascending."""
        values, counts = self._ordered()
        return list(zip(values.tolist(), counts.tolist(), strict=True))

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q (n − 1))``, within the bound of the module docstring;
        None when empty."""
        values, counts = self._ordered()
        total = int(counts.sum())
        if not total:
            return None
        rank = int(np.floor(min(max(q, 0.0), 1.0) * (total - 1)))
        index = int(np.searchsorted(np.cumsum(counts), rank, side="right"))
        return float(values[index])

    def count_at_most(self, edges: list[float]) -> list[int]:
        """For each edge, the values whose bucket value is <= it (edges taken from
        :meth:`quantile` of another sketch fall on bucket values exactly)."""
        values, counts = self._ordered()
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        return [int(cumulative[np.searchsorted(values, e, side="right")]) for e in edges]

    def to_json(self) -> dict[str, Any]:
        keys, counts = self._parts()
        return {"alpha": ALPHA, "keys": keys.tolist(), "counts": counts.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuantileSketch:
        if float(data.get("alpha", -1)) != ALPHA:
            raise ValueError(f"a sketch of relative accuracy {data.get('alpha')}, not {ALPHA}")
        keys = np.asarray(data["keys"], dtype=np.int64)
        return cls(keys, np.asarray(data["counts"], dtype=np.int64))
