"""The final status file (``--status-path``, local or ``gs://``): what a platform polls.

:class:`RunMeter` collects what a run measured as it goes (seconds per stage, live row
counters), so that a failed or stopped run reports how far it got, not zeros.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spark_job.spec.secrets import redact_data
from spark_job.storage import gcs

ROW_COUNTERS = ("rows_read", "rows_predicted", "rows_failed", "rows_written")


@dataclass
class RunMeter:
    """Seconds per stage (one stage at a time) and row counters read when asked.

    Stages of a job: ``session`` (SparkSession start), ``prepare`` (SaveMode check, model,
    input planning), ``predict`` (read, predict and stage the results), ``publish`` (make the
    results visible), and ``total``.
    """

    stage_seconds: dict[str, float] = field(default_factory=dict)
    counters: dict[str, Callable[[], int]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    _started: float = field(default_factory=time.monotonic)
    _stage: str | None = None
    _stage_started: float = 0.0

    def begin(self, stage: str) -> None:
        """End the current stage, if any, and start ``stage``."""
        self.end()
        self._stage, self._stage_started = stage, time.monotonic()

    def end(self) -> None:
        if self._stage is not None:
            elapsed = time.monotonic() - self._stage_started
            self.stage_seconds[self._stage] = round(
                elapsed + self.stage_seconds.get(self._stage, 0), 3
            )
            self._stage = None

    def count(self, name: str, read: Callable[[], int]) -> None:
        """Register a live counter (e.g. an accumulator's value) named ``name``."""
        self.counters[name] = read

    def rows(self) -> dict[str, int]:
        values: dict[str, int] = {}
        for name, read in self.counters.items():
            try:
                values[name] = int(read())
            except Exception:  # a counter of a stopped context: leave it out
                continue
        return values

    def total_seconds(self) -> float:
        return round(time.monotonic() - self._started, 3)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")


def status_document(
    state: str,
    job_name: str,
    run_id: str,
    error: str | None = None,
    result: Any = None,
    meter: RunMeter | None = None,
    application_id: str | None = None,
) -> dict[str, Any]:
    """The status JSON of a run that ended in ``state``.

    ``result`` (a :class:`spark_job.run.runner.JobResult`) gives the final counts of a completed
    run; otherwise the ``meter``'s counters say how far the run got.
    """
    meter = meter or RunMeter()
    meter.end()
    stages = dict(meter.stage_seconds)
    stages["total"] = meter.total_seconds()
    document: dict[str, Any] = {
        "state": state,
        "job_name": job_name,
        "run_id": run_id,
        "error": error,
        "spark_application_id": application_id,
        **{name: 0 for name in ROW_COUNTERS},
        "stage_seconds": stages,
        "rows_per_second": None,
        "destination": None,
        "partitions_reused": 0,
        "started_at": _iso(meter.started_at),
        "finished_at": _iso(time.time()),
    }
    document.update({k: v for k, v in meter.rows().items() if k in ROW_COUNTERS})
    if result is not None:
        document.update(
            rows_read=result.rows_read,
            rows_predicted=result.rows_predicted,
            rows_failed=result.rows_failed,
            rows_written=result.rows_written,
            destination=result.destination,
            outcome=result.status,
            partitions_reused=result.partitions_reused,
        )
        if result.resume_note:
            document["resume"] = result.resume_note
        # the job report (docs/report.md): its files, and the columns that drifted
        document["report"] = result.report_json or None
        document["report_html"] = result.report or None
        document["drift_flagged"] = [d["column"] for d in result.drift]
    # the same counts, as instances: those the model predicted, those left out (row errors)
    document["instances_succeeded"] = document["rows_predicted"]
    document["instances_failed"] = document["rows_failed"]
    predict_seconds = stages.get("predict")
    if predict_seconds and document["rows_predicted"]:
        document["rows_per_second"] = round(document["rows_predicted"] / predict_seconds, 1)
    return document


def write_status(path: str, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` whole (a local rename, or one GCS object upload), its
    secrets masked (see :mod:`spark_job.spec.secrets`)."""
    text = json.dumps(redact_data(document), indent=2, default=str) + "\n"
    if gcs.is_gcs(path):
        gcs.write_bytes(gcs.client(), gcs.parse(path), text.encode(), "application/json")
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text)
    partial.replace(target)
