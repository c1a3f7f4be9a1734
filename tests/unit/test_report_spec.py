"""The spec's ``report`` section: defaults per sink and every bad value, exit-2 messages."""

from __future__ import annotations

import pytest

from spark_job.errors import UserError
from spark_job.spec import ReportSpec, parse_spec_text

FILES = """
gcsSource: {format: PARQUET, uri: /data/in}
model: {uri: /models/m}
gcsSink: {format: JSON, uri: /data/out}
"""
BIGQUERY = """
gcsSource: {format: PARQUET, uri: /data/in}
model: {uri: /models/m}
bigquerySink: {table: p.d.t, staging_bucket: b}
"""


def test_defaults_on_for_file_sinks_off_for_bigquery_unless_a_path_is_given() -> None:
    files = parse_spec_text(FILES)
    assert files.report == ReportSpec() and files.report_enabled
    assert not parse_spec_text(BIGQUERY).report_enabled
    with_path = parse_spec_text(BIGQUERY + "report: {path: gs://b/reports}")
    assert with_path.report_enabled and with_path.report.path == "gs://b/reports"
    off = parse_spec_text(FILES + "report: {enabled: false}")
    assert not off.report_enabled
    full = parse_spec_text(
        FILES + "report: {reference: gs://b/r/report.json, drift_threshold: 0.1, failOnDrift: true}"
    )
    assert full.report == ReportSpec(None, None, "gs://b/r/report.json", 0.1, True)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "report: {enable: true}",
            "report.enable: unknown field 'enable'. Did you mean 'enabled'?",
        ),
        ("report: {enabled: maybe}", "report.enabled: expected true or false, got 'maybe'"),
        ("report: {driftThreshold: 0}", "report.driftThreshold: expected a positive number"),
        ("report: {driftThreshold: high}", "report.driftThreshold: expected a positive number"),
        ("report: {failOnDrift: true}", "report.failOnDrift: needs report.reference"),
        ("report: {path: 'gs://'}", "report.path: 'gs://' names no bucket"),
        ("report: {path: 's3://b/x'}", "report.path: 's3://b/x': use a local path, file://"),
        (
            "report: {reference: 'gs://b/*.json'}",
            "report.reference: 'gs://b/*.json' has a wildcard",
        ),
        ("report: {enabled: false, reference: r.json}", "report.reference: the report is disabled"),
        ("report: [1]", "report: expected a mapping, got list"),
    ],
)
def test_bad_report_sections(section: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_spec_text(FILES + section)
    assert message in str(raised.value)


def test_bigquery_needs_a_path_for_a_report() -> None:
    with pytest.raises(UserError, match=r"^report.path: required for a BigQuery sink"):
        parse_spec_text(BIGQUERY + "report: {enabled: true}")
    with pytest.raises(UserError, match=r"^report.reference: no report is written"):
        parse_spec_text(BIGQUERY + "report: {reference: r.json}")


def test_reference_data_is_a_source_of_the_same_schema() -> None:
    files = parse_spec_text(
        FILES + "report: {reference: {gcsSource: {format: CSV, uri: gs://b/t/*.csv,"
        " options: {header: 'true'}}}, failOnDrift: true}"
    )
    data = files.report.reference_data
    assert data is not None and data.uris == ["gs://b/t/*.csv"] and data.features == []
    assert files.report.reference_report is None and files.report.fail_on_drift
    table = parse_spec_text(FILES + "report: {reference: {bigquery_source: {table: p.d.t}}}")
    assert table.report.reference_data.table == "p.d.t"  # type: ignore[union-attr]
    earlier = parse_spec_text(FILES + "report: {reference: r.json}")
    assert earlier.report.reference_report == "r.json" and earlier.report.reference_data is None


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "{gcsSource: {format: PARQUET, uri: /a}, bigquerySource: {table: p.d.t}}",
            "report.reference: give exactly one of gcsSource (files) or bigquerySource (a table)",
        ),
        ("{}", "report.reference: give exactly one of gcsSource"),
        ("{table: p.d.t}", "report.reference.table: unknown field 'table'."),
        ("{gcsSource: {format: PARQUET}}", "report.reference.gcsSource.uri: required field"),
        ("{gcsSource: {uri: /a}}", "report.reference.gcsSource.format: required field"),
        (
            "{gcsSource: {format: CSV, uri: /a, options: {bogus: 1}}}",
            "report.reference.gcsSource.options.bogus: not an option of the CSV reader",
        ),
        (
            "{bigquerySource: {table: p.d.t, options: {viewsEnabled: maybe}}}",
            "report.reference.bigquerySource.options.viewsEnabled: expected true or false",
        ),
    ],
)
def test_bad_reference_data(reference: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_spec_text(FILES + f"report: {{reference: {reference}}}")
    assert str(raised.value).startswith(message), str(raised.value)
