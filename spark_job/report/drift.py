"""Drift of this run against a reference report: PSI and Jensen–Shannon distance per column.

Both are computed on the same bins, chosen from the reference:

- numbers: the reference's deciles (from its quantile sketch) cut the line into up to ten bins,
  ``(-inf, d1], (d1, d2], …, (d9, inf)``; each side's share of a bin comes from its own sketch
  (both sketches have the same buckets and the deciles are bucket values, so a value is in the
  same bin on both sides);
- strings, booleans, labels: the reference's top values (up to ``MAX_CATEGORIES``) and one
  ``(other)`` bin;
- a ``(missing)`` bin when either side has NULLs.

With ``p`` this run's shares and ``q`` the reference's::

    PSI = Σ (p_i − q_i) · ln(p_i / q_i)      (empty bins count as EPSILON)
    JS  = sqrt(½ KL(p ‖ m) + ½ KL(q ‖ m)),  m = (p + q) / 2,  logarithms base 2 (0 … 1)

A column is flagged when its PSI is above ``report.driftThreshold`` (default 0.2: the usual
reading is < 0.1 stable, 0.1–0.2 some change, > 0.2 a shift).
"""

from __future__ import annotations

import math
from typing import Any

from spark_job.report.stats import ColumnStats

DECILES = tuple(i / 10 for i in range(1, 10))
MAX_CATEGORIES = 20
EPSILON = 1e-4
MISSING = "(missing)"
OTHER = "(other)"


def psi(p: list[float], q: list[float]) -> float:
    total = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = max(a, EPSILON), max(b, EPSILON)
        total += (a - b) * math.log(a / b)
    return total


def js_distance(p: list[float], q: list[float]) -> float:
    def kl(a: list[float], m: list[float]) -> float:
        return sum(x * math.log2(x / y) for x, y in zip(a, m, strict=True) if x > 0)

    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    return math.sqrt(max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m)))


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _number_bins(
    current: ColumnStats, reference: ColumnStats
) -> tuple[list[str], list[int], list[int]]:
    edges = sorted({e for q in DECILES if (e := reference.sketch.quantile(q)) is not None})
    labels = [f"≤ {_short(e)}" for e in edges] + [f"> {_short(edges[-1])}" if edges else "all"]

    def counts(stats: ColumnStats) -> list[int]:
        at_most = stats.sketch.count_at_most(edges)
        bounds = [0, *at_most, stats.sketch.count]
        return [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]

    return labels, counts(current), counts(reference)


def _category_bins(
    current: ColumnStats, reference: ColumnStats
) -> tuple[list[str], list[int], list[int]]:
    ref_top = reference.top.top(MAX_CATEGORIES) if reference.top else []
    values = [v for v, _ in ref_top]
    mine = current.top.counts if current.top else {}
    ref_counts = [c for _, c in ref_top]
    cur_counts = [int(mine.get(v, 0)) for v in values]
    present = (current.rows - current.nulls, reference.rows - reference.nulls)
    cur_counts.append(max(0, present[0] - sum(cur_counts)))
    ref_counts.append(max(0, present[1] - sum(ref_counts)))
    return [str(v) for v in values] + [OTHER], cur_counts, ref_counts


def column_drift(
    current: dict[str, Any], reference: dict[str, Any], threshold: float
) -> dict[str, Any] | None:
    """PSI, JS distance and the bins of one column's summaries (None: not comparable)."""
    if current.get("kind") != reference.get("kind"):
        return None
    mine, theirs = ColumnStats.from_json(current), ColumnStats.from_json(reference)
    if mine.kind == "number" and "sketch" in current and "sketch" in reference:
        labels, cur, ref = _number_bins(mine, theirs)
    elif mine.top is not None and theirs.top is not None:
        labels, cur, ref = _category_bins(mine, theirs)
    else:
        return None
    if mine.nulls or theirs.nulls:
        labels, cur, ref = [*labels, MISSING], [*cur, mine.nulls], [*ref, theirs.nulls]
    if not sum(cur) or not sum(ref):
        return None
    p, q = _shares(cur), _shares(ref)
    value = psi(p, q)
    return {
        "psi": round(value, 6),
        "js_distance": round(js_distance(p, q), 6),
        "flagged": value > threshold,
        "bins": [
            {"bin": label, "current": a, "reference": b}
            for label, a, b in zip(labels, p, q, strict=True)
        ],
    }


def compare(
    current: dict[str, Any], reference: dict[str, Any], threshold: float, where: str
) -> dict[str, Any]:
    """The drift section of a report: each feature and prediction column present in both
    reports; ``where`` is the reference's location."""
    sections: dict[str, dict[str, Any]] = {}
    flagged: list[dict[str, Any]] = []
    for section in ("features", "prediction"):
        compared: dict[str, Any] = {}
        theirs = reference.get(section, {})
        for name, summary in current.get(section, {}).items():
            if name in theirs:
                drift = column_drift(summary, theirs[name], threshold)
                if drift is not None:
                    compared[name] = drift
                    if drift["flagged"]:
                        flagged.append({"section": section, "column": name, "psi": drift["psi"]})
        sections[section] = compared
    return {
        "reference": where,
        "threshold": threshold,
        "features": sections["features"],
        "prediction": sections["prediction"],
        "flagged": flagged,
    }


def _short(value: float) -> str:
    return f"{value:.4g}"
