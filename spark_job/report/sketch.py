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

**Speed.** The sketch counts into a dense array over the range of keys it has seen (at most
2**18 keys, 2 MiB; a column of one sign within a few binades: a few KiB), so a batch costs one
``bincount`` and one slice addition, and merging adds arrays. A batch of one sign is counted on
``bits >> 46`` (one shift: unique per sign and bucket; the stored key is then the first
bucket's, converted, and goes up by 2 per bucket); a batch of both signs on the stored key
itself (compact for both signs).
A sketch pickles as its non-empty buckets only (what a task sends to the driver).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spark_job.report.scratch import scratch

MANTISSA_BITS = 6
ALPHA = 2.0 ** -(MANTISSA_BITS + 1)
_SHIFT = 52 - MANTISSA_BITS
_MAGNITUDE = np.int64(0x7FFF_FFFF_FFFF_FFFF)
_MIDPOINT = np.int64(1 << (_SHIFT - 1))
#: Stored keys are below 2**_KEY_BITS: 11 exponent + 6 mantissa bits, and the sign.
_KEY_BITS = 63 - _SHIFT + 1
_KEY_MASK = np.int64((1 << _KEY_BITS) - 1)


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """Each finite float's bucket: ``magnitude bucket << 1 | sign`` (int64, >= 0)."""
    bits = values.view(np.int64)
    return (((bits & _MAGNITUDE) >> _SHIFT) << 1) | ((bits >> 63) & 1)


def stored_keys(shifted: np.ndarray) -> np.ndarray:
    """``bits >> 46`` (sign and magnitude bucket, as a signed number) as :func:`bucket_keys`
    gives it: ``2 s`` for ``s >= 0``; ``2 (s + 2**17) + 1`` for ``s < 0`` (the sign bit
    sits at 2**17 after the arithmetic shift)."""
    return ((shifted << 1) - (shifted >> 63)) & _KEY_MASK


def bucket_values(keys: np.ndarray) -> np.ndarray:
    """The value that stands for each bucket: its midpoint (0.0 for zero's bucket)."""
    magnitude = keys >> 1
    bits = (magnitude << _SHIFT) | _MIDPOINT
    values = bits.view(np.float64).copy()
    values[magnitude == 0] = 0.0
    return np.where(keys & 1, -values, values)


def batch_counts(values: np.ndarray) -> tuple[int, int, np.ndarray]:
    """The bucket counts of some finite float64 values, as ``(first key, key step, counts)``:
    ``counts[i]`` values have the stored key ``first + i * step`` (``step`` 1 or 2; zero
    counts included)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    shifted = np.right_shift(bits, _SHIFT, out=scratch(len(bits), 0))
    low = int(shifted.min())
    if low < 0 <= int(shifted.max()):  # both signs: count on the stored key (compact)
        sign = np.right_shift(shifted, 63, out=scratch(len(bits), 1))
        shifted <<= 1
        shifted -= sign
        shifted &= _KEY_MASK
        low = int(shifted.min())
        shifted -= low
        return low, 1, np.bincount(shifted)
    shifted -= low  # one sign: the stored key goes up by 2 with the shifted bits
    counts = np.bincount(shifted)
    first = int(stored_keys(np.array([low], dtype=np.int64))[0])
    return first, 2, counts


class QuantileSketch:
    """Counts of finite values per bucket (see the module docstring)."""

    def __init__(self, keys: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        #: ``_dense[i]`` counts the key ``_offset + i``
        self._offset = 0
        self._dense = np.zeros(0, dtype=np.int64)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        if keys is not None and counts is not None and len(keys):
            self._add_sparse(np.asarray(keys, dtype=np.int64), np.asarray(counts, np.int64))

    def add(self, values: np.ndarray) -> None:
        """Add finite float64 values (NaN and infinities must be filtered out first)."""
        if not len(values):
            return
        first, step, counts = batch_counts(values)
        self._add_dense(first, step, counts)

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        if len(other._dense):
            self._add_dense(other._offset, 1, other._dense)
        return self

    def _cover(self, low: int, high: int) -> None:
        """Grow the dense array to hold the keys ``low`` … ``high``."""
        end = self._offset + len(self._dense)
        if not len(self._dense):
            self._offset, self._dense = low, np.zeros(high - low + 1, dtype=np.int64)
        elif low < self._offset or high >= end:
            start, stop = min(low, self._offset), max(high + 1, end)
            grown = np.zeros(stop - start, dtype=np.int64)
            grown[self._offset - start : end - start] = self._dense
            self._offset, self._dense = start, grown

    def _add_dense(self, first: int, step: int, counts: np.ndarray) -> None:
        """Add ``counts[i]`` to the key ``first + i * step`` (``step`` > 0)."""
        self._cover(first, first + step * (len(counts) - 1))
        start = first - self._offset
        self._dense[start : start + step * len(counts) : step] += counts
        self._cache = None

    def _add_sparse(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._cover(int(keys.min()), int(keys.max()))
        if np.all(keys[1:] > keys[:-1]):  # distinct (as stored): one fancy-index addition
            self._dense[keys - self._offset] += counts
        else:
            np.add.at(self._dense, keys - self._offset, counts)
        self._cache = None

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        """The non-empty buckets: keys ascending, counts."""
        present = np.flatnonzero(self._dense)
        return present + self._offset, self._dense[present]

    def __getstate__(self) -> dict[str, Any]:
        keys, counts = self._parts()
        return {"keys": keys, "counts": counts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._offset, self._dense, self._cache = 0, np.zeros(0, dtype=np.int64), None
        if len(state["keys"]):
            self._add_sparse(state["keys"], state["counts"])

    @property
    def count(self) -> int:
        return int(self._dense.sum())

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket values ascending, with their counts (non-empty buckets only)."""
        if self._cache is None:
            keys, counts = self._parts()
            values = bucket_values(keys)
            order = np.argsort(values, kind="stable")
            self._cache = values[order], counts[order]
        return self._cache

    def buckets(self) -> list[tuple[float, int]]:
        """(bucket value, count) of every non-empty bucket, values ascending."""
        values, counts = self.ordered()
        return list(zip(values.tolist(), counts.tolist(), strict=True))

    def quantiles(self, qs: list[float] | tuple[float, ...]) -> list[float | None]:
        """:meth:`quantile` of each of ``qs`` (one pass over the buckets)."""
        values, counts = self.ordered()
        total = int(counts.sum())
        if not total:
            return [None] * len(qs)
        cumulative = np.cumsum(counts)
        ranks = [int(np.floor(min(max(q, 0.0), 1.0) * (total - 1))) for q in qs]
        found = np.searchsorted(cumulative, ranks, side="right")
        return [float(values[i]) for i in found]

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q (n − 1))``, within the bound of the module docstring;
        None when empty."""
        return self.quantiles([q])[0]

    def count_at_most(self, edges: list[float]) -> list[int]:
        """For each edge, the values whose bucket value is <= it (edges taken from
        :meth:`quantile` of another sketch fall on bucket values exactly)."""
        values, counts = self.ordered()
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
        counts = np.asarray(data["counts"], dtype=np.int64)
        if len(keys) != len(counts) or (
            len(keys) and not 0 <= keys.min() <= keys.max() < 2**_KEY_BITS
        ):
            raise ValueError("a sketch with keys out of range, or not one count per key")
        return cls(keys, counts)
