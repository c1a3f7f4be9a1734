"""Top values of a column: a mergeable Misra–Gries summary (strings, booleans, labels).

A summary keeps at most ``CAPACITY`` values with counts. Each Arrow batch is counted exactly
(``pyarrow.compute.value_counts``), cut down to ``CAPACITY`` values, and merged. A cut (or a
merge holding more than ``CAPACITY`` values) subtracts the ``CAPACITY + 1``-th largest count
``c`` from every count and drops those left at zero or below; ``undercount`` adds up those
``c``.

**Error bound.** For every value ``v`` with ``t`` occurrences, the summary's count ``s`` (0 when
``v`` is not kept) satisfies ``t − undercount <= s <= t``, and ``undercount <= n / (CAPACITY + 1)``
for ``n`` counted values. With at most ``CAPACITY`` distinct values the counts are exact
(``undercount`` is 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CAPACITY = 64


class TopValues:
    def __init__(self, counts: dict[Any, int] | None = None, undercount: int = 0) -> None:
        self.counts: dict[Any, int] = counts or {}
        self.undercount = undercount

    def add(self, array: pa.Array) -> None:
        """Count the non-null values of ``array``."""
        counted = pc.value_counts(array.drop_null())
        if not len(counted):
            return
        values = counted.field("values")
        counts = counted.field("counts").to_numpy().astype(np.int64)
        if len(counts) > CAPACITY:
            kept = np.argpartition(counts, -(CAPACITY + 1))[-(CAPACITY + 1) :]
            cut = int(counts[kept].min())
            kept = kept[counts[kept] > cut]
            self.undercount += cut
            values = values.take(pa.array(kept))
            counts = counts[kept] - cut
        self._combine(dict(zip(values.to_pylist(), counts.tolist(), strict=True)))

    def merge(self, other: TopValues) -> TopValues:
        self.undercount += other.undercount
        self._combine(other.counts)
        return self

    def _combine(self, counts: dict[Any, int]) -> None:
        for value, count in counts.items():
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > CAPACITY:
            cut = sorted(self.counts.values(), reverse=True)[CAPACITY]
            self.counts = {v: c - cut for v, c in self.counts.items() if c > cut}
            self.undercount += cut

    def top(self, limit: int | None = None) -> list[tuple[Any, int]]:
        """(value, count), most frequent first (ties by value's text)."""
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))
        return ordered[:limit] if limit is not None else ordered

    def to_json(self) -> dict[str, Any]:
        return {"values": [[v, c] for v, c in self.top()], "undercount": self.undercount}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopValues:
        counts = {(tuple(v) if isinstance(v, list) else v): int(c) for v, c in data["values"]}
        return cls(counts, int(data.get("undercount", 0)))
