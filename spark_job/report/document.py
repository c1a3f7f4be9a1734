"""The report as one JSON document, built on the driver once the results are published.

Layout (``report.json``; every field is described in docs/report.md)::

    {"report_version": 1,
     "job": {"name", "run_id", "destination", "model", "generated_at"},
     "rows": {"read", "predicted", "failed", "written"},
     "stage_seconds": {"session", "prepare", "predict", "publish", "total"},
     "failures": {"MODEL_ERROR": n, ...},
     "features": {column: summary},
     "prediction": {column: summary},   # a STRUCT's fields as "prediction.label"
     "drift": null | {...}}             # see drift.py

A summary is :meth:`spark_job.report.stats.ColumnStats.to_json`, plus for numbers a histogram
of ``HISTOGRAM_BINS`` equal-width bins between the minimum and the maximum (counted from the
sketch's buckets: a value may land one bin off when it lies within ``ALPHA`` of an edge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from spark_job.report.collector import PartialReport
from spark_job.report.sketch import ALPHA, QuantileSketch
from spark_job.report.stats import ColumnStats

REPORT_VERSION = 1
HISTOGRAM_BINS = 20


def histogram(sketch: QuantileSketch, low: float, high: float) -> dict[str, list[float]]:
    """Equal-width bins over [low, high], counted from the sketch's buckets."""
    if high <= low:
        return {"edges": [low, high], "counts": [sketch.count]}
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    for value, count in sketch.buckets():
        index = int(np.searchsorted(edges, value, side="right")) - 1
        counts[min(max(index, 0), HISTOGRAM_BINS - 1)] += count
    return {"edges": [float(e) for e in edges], "counts": counts.tolist()}


def _summary(stats: ColumnStats) -> dict[str, Any]:
    data = stats.to_json()
    if stats.kind == "number" and stats.moments.n:
        data["histogram"] = histogram(stats.sketch, stats.moments.low, stats.moments.high)
    return data


@dataclass(frozen=True)
class RunFacts:
    """What the runner knows of the run besides the statistics."""

    job_name: str
    run_id: str
    destination: str
    model: str
    rows: dict[str, int]
    stage_seconds: dict[str, float]
    failures: dict[str, int]


def build_report(stats: PartialReport | None, facts: RunFacts) -> dict[str, Any]:
    stats = stats or PartialReport()
    return {
        "report_version": REPORT_VERSION,
        "job": {
            "name": facts.job_name,
            "run_id": facts.run_id,
            "destination": facts.destination,
            "model": facts.model,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sketch_relative_accuracy": ALPHA,
        },
        "rows": dict(facts.rows),
        "stage_seconds": dict(facts.stage_seconds),
        "failures": dict(sorted(facts.failures.items())),
        "features": {name: _summary(s) for name, s in stats.features.items()},
        "prediction": {name: _summary(s) for name, s in stats.prediction.items()},
        "drift": None,
    }


def to_json_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, default=str, allow_nan=False) + "\n"
