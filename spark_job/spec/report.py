"""The ``report`` section of the spec (extension): the job report and drift (docs/report.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from spark_job.errors import UserError
from spark_job.spec.fields import Rule, parse_bool, parse_message, parse_non_empty_string
from spark_job.spec.source_parsers import parse_bigquery_source, parse_gcs_source
from spark_job.spec.types import BigQuerySink, JobSpec, ReportSpec, Source

#: The spec path of the reference; a source given there is named ``report.reference.gcsSource``.
REFERENCE = "report.reference"
#: A source's own field path in a message (``gcsSource:``, ``bigquerySource.table``), not
#: already under another path.
_SOURCE_FIELD = re.compile(r"(?<![\w.])(gcsSource|bigquerySource)(?=\.\w|:)")


def as_reference_error(error: UserError) -> UserError:
    """``error``, raised by code shared with the job's own source (which names the field
    ``gcsSource…`` or ``bigquerySource…``), naming the reference's field instead."""
    return UserError(_SOURCE_FIELD.sub(rf"{REFERENCE}.\1", str(error)))


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


def _reference(value: Any, path: str) -> str | Source:
    """An earlier report.json (its location), or a mapping with exactly one source: files
    (``gcsSource``) or a table (``bigquerySource``), parsed as the job's own source."""
    if not isinstance(value, Mapping):
        return _report_location(value, path)
    try:
        sources = parse_message(
            value,
            path,
            {"gcs_source": Rule(parse_gcs_source), "bigquery_source": Rule(parse_bigquery_source)},
        )
    except UserError as error:  # a bad option of the source names it without the path
        raise as_reference_error(error) from None
    if len(sources) != 1:
        given = " and ".join(str(key) for key in value) or "nothing"
        raise UserError(
            f"{path}: give exactly one of gcsSource (files) or bigquerySource (a table), or the"
            f" location of an earlier report.json; got {given}."
        )
    return next(iter(sources.values()))


def parse_report(raw: Any, path: str) -> ReportSpec:
    values = parse_message(
        raw,
        path,
        {
            "enabled": Rule(parse_bool),
            "path": Rule(_report_location),
            "reference": Rule(_reference),
            "drift_threshold": Rule(_drift_threshold),
            "fail_on_drift": Rule(parse_bool),
        },
    )
    report = ReportSpec(**values)
    if report.enabled is False and (report.reference or report.fail_on_drift):
        given = "reference" if report.reference else "failOnDrift"
        raise UserError(f"{path}.{given}: the report is disabled ({path}.enabled: false).")
    if report.fail_on_drift and not report.reference:
        raise UserError(
            f"{path}.failOnDrift: needs {path}.reference (an earlier report.json, files or a"
            " table)."
        )
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
