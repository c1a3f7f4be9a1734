"""The final status file (``--status-path``, local or ``gs://``): what a platform polls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spark_job import gcs


def status_document(
    state: str,
    job_name: str,
    run_id: str,
    error: str | None = None,
    result: Any = None,
    stage_seconds: dict[str, float] | None = None,
    application_id: str | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "state": state,
        "job_name": job_name,
        "run_id": run_id,
        "error": error,
        "spark_application_id": application_id,
        "rows_read": 0,
        "rows_predicted": 0,
        "rows_failed": 0,
        "rows_written": 0,
        "stage_seconds": dict(stage_seconds or {}),
        "rows_per_second": None,
        "destination": None,
    }
    if result is not None:
        document.update(
            rows_read=result.rows_read,
            rows_predicted=result.rows_predicted,
            rows_failed=result.rows_failed,
            rows_written=result.rows_written,
            destination=result.destination,
            outcome=result.status,
        )
        document["stage_seconds"].update(result.stage_seconds)
        run_seconds = result.stage_seconds.get("run")
        if run_seconds:
            document["rows_per_second"] = round(result.rows_predicted / run_seconds, 1)
    return document


def write_status(path: str, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, default=str) + "\n"
    if gcs.is_gcs(path):
        gcs.write_bytes(gcs.client(), gcs.parse(path), text.encode(), "application/json")
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text)
    partial.replace(target)
