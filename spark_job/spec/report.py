"""The ``report`` section of the spec (extension): the job report and drift (docs/report.md)."""

from __future__ import annotations

from typing import Any

from spark_job.errors import UserError
from spark_job.spec.fields import Rule, parse_bool, parse_message, parse_non_empty_string
from spark_job.spec.types import BigQuerySink, JobSpec, ReportSpec


def _report_location(value: Any, path: str) -> str:
    """A local path, ``file://`` or ``gs://bucket/…`` (no wildcard)."""
    text = parse_non_empty_string(value, path)
    if "*" in text:
        raise UserError(f"{path}: '{text}' has a wildcard; give one path.")
    if text.startswith("gs://") and not text[5:].split("/")[0]:
        raise UserError(f"{path}: '{text}' names no bucket; use gs://bucket/folder.")
    if "://" in text and not text.startswith(("gs://", "file://")):
        raise UserError(f"{path}: '{text}': use a local path, file:// or gs://.")
    return text


def _drift_threshold(value: Any, path: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{path}: expected a positive number (PSI), got {value!r}.") from None
    if isinstance(value, bool) or not 0.0 < number < float("inf"):
        raise UserError(f"{path}: expected a positive number (PSI), got {value!r}.")
    return number


def parse_report(raw: Any, path: str) -> ReportSpec:
    values = parse_message(
        raw,
        path,
        {
            "enabled": Rule(parse_bool),
            "path": Rule(_report_location),
            "reference": Rule(_report_location),
            "drift_threshold": Rule(_drift_threshold),
            "fail_on_drift": Rule(parse_bool),
        },
    )
    report = ReportSpec(**values)
    if report.enabled is False and (report.reference or report.fail_on_drift):
        given = "reference" if report.reference else "failOnDrift"
        raise UserError(f"{path}.{given}: the report is disabled ({path}.enabled: false).")
    if report.fail_on_drift and not report.reference:
        raise UserError(f"{path}.failOnDrift: needs {path}.reference (an earlier report.json).")
    return report


def check_report(spec: JobSpec) -> None:
    if spec.report.enabled and spec.report.path is None and isinstance(spec.sink, BigQuerySink):
        raise UserError(
            "report.path: required for a BigQuery sink when report.enabled is true (a folder,"
            " local or gs://, for report.json and report.html)."
        )
    if spec.report.reference and not spec.report_enabled:
        raise UserError(
            "report.reference: no report is written for a BigQuery sink without report.path;"
            " give report.path."
        )
