"""``report.reference`` as data (files or a BigQuery table) scored the same way as the input:
no drift against a reshuffled copy, drift and exit 3 against a shifted one, statistics equal to
those of a report.json of the same data, and every user error exit 2 with nothing written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from tests import test_report
from tests.bq_helpers import bq_client, create_dataset, create_table
from tests.conftest import EMULATOR_PROJECT
from tests.test_report import ROWS, _cli, _spec, _summary, _write

data = test_report.data  # its fixture: the input, a reshuffled and a shifted copy, the model

DATASET = "report_reference_tests"
FEATURES = ("x", "n", "colour", "flag")


def _files(folder: Path | str) -> str:
    return f'{{gcsSource: {{format: PARQUET, uri: "{folder}/*"}}}}'


def _report(reference: str, extra: str = "") -> str:
    return f"report: {{reference: {reference}{extra}}}"


def _tree(folder: Path) -> dict[str, int]:
    """The files under ``folder`` and their sizes (to show nothing was written there)."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def _error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr and "Py4J" not in proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def _psi(drift: dict[str, Any]) -> dict[str, float]:
    return {
        f"{section}.{name}": column["psi"]
        for section in ("features", "prediction")
        for name, column in drift[section].items()
    }


def _run(spark: Any, spec: Path, run_id: str) -> dict[str, Any]:
    """The job in this process; its report.json (the file sink's ``_report.json``)."""
    parsed = parse_spec_text(spec.read_text())
    result = run_job(spark, parsed, "reference", run_id)
    return json.loads(Path(result.report_json).read_text())


def test_files_reference_reshuffled_no_drift_same_as_its_report_json(
    spark, data, cli_in_process
) -> None:
    """Reference files scored in the job: nothing flagged against a reshuffled copy, nothing
    written to them, and the same PSI per column as against the report.json of a run over them."""
    root, reshuffled = data["root"], data["reshuffled"]
    before = _tree(reshuffled)
    output = root / "calm"
    sink = f'gcsSink: {{format: JSON, uri: "{output}"}}'
    proc = _cli(
        cli_in_process,
        _spec(data, "calm", "input", sink, _report(_files(reshuffled))),
        "reference_calm",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _summary(proc)["summary"].endswith(f"; report: {output}/_report.html")
    document = json.loads((output / "_report.json").read_text())
    drift = document["drift"]
    assert drift["reference"] == f"PARQUET files {reshuffled}/*"
    assert drift["reference_rows"] == ROWS and drift["flagged"] == []
    assert set(drift["features"]) == set(FEATURES) and set(drift["prediction"]) == {"prediction"}
    assert all(value < 0.01 for value in _psi(drift).values())
    assert "reference" in document["stage_seconds"]
    assert document["rows"]["read"] == ROWS  # the reference's rows are not the job's
    results = pd.concat(pd.read_json(p, lines=True) for p in output.glob("prediction.results-*"))
    assert len(results) == ROWS
    assert _tree(reshuffled) == before

    # The same data as a job's input, its report.json then the reference: the same drift.
    scored = root / "scored-reshuffled"
    sink = f'gcsSink: {{format: JSON, uri: "{scored}"}}'
    _run(spark, _spec(data, "as-input", "reshuffled", sink), "r-input")
    again = root / "against-json"
    by_json = _run(spark, _spec(data, "by-json", "input",
                                f'gcsSink: {{format: JSON, uri: "{again}"}}',
                                _report(f'"{scored}/_report.json"')), "r-json")  # fmt: skip
    assert by_json["drift"]["reference"] == f"{scored}/_report.json"
    assert by_json["drift"]["reference_rows"] == ROWS
    assert _psi(by_json["drift"]) == _psi(drift)
    for section in ("features", "prediction"):
        for name, column in drift[section].items():
            assert column["bins"] == by_json["drift"][section][name]["bins"], name


def test_files_reference_shifted_copy_is_flagged_exit_3(data, cli_in_process) -> None:
    """The job's input shifted by three standard deviations in ``x`` (and its colours
    swapped): x, colour and the prediction flagged; the results published, exit 3."""
    output = data["root"] / "shifted-out"
    sink = f'gcsSink: {{format: PARQUET, uri: "{output}"}}'
    report = _report(_files(data["input"]), ", failOnDrift: true")
    proc = _cli(
        cli_in_process, _spec(data, "shifted", "shifted", sink, report), "reference_shifted"
    )
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = _error_lines(proc)
    assert len(errors) == 1 and errors[0].startswith(
        "error: report.failOnDrift: drift above report.driftThreshold in "
    ), errors
    assert len(pd.read_parquet(output)) == ROWS  # published
    document = json.loads((output / "_report.json").read_text())
    flagged = {(f["section"], f["column"]) for f in document["drift"]["flagged"]}
    assert flagged == {("features", "x"), ("features", "colour"), ("prediction", "prediction")}
    assert document["drift"]["features"]["n"]["psi"] < 0.01


def test_bigquery_table_reference_equals_files_reference(spark, data) -> None:
    """A BigQuery table (the emulator) holding the input's rows as the reference: the same
    statistics as the same rows given as files, so the same PSI per column."""
    from google.cloud import bigquery

    create_dataset(DATASET)
    table = f"{EMULATOR_PROJECT}.{DATASET}.reference"
    create_table(table, [
        bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("x", "FLOAT64"),
        bigquery.SchemaField("n", "INT64"), bigquery.SchemaField("colour", "STRING"),
        bigquery.SchemaField("flag", "BOOL"),
    ])  # fmt: skip
    frame = data["frame"].astype(object).where(data["frame"].notna(), None)
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in frame.to_dict("records")]  # fmt: skip
    for start in range(0, len(rows), 500):
        assert bq_client().insert_rows_json(table, rows[start : start + 500]) == []
    reference = f"{{bigquerySource: {{table: {table}, options: {{engine: storage-api}}}}}}"
    root = data["root"]
    by_table = _run(spark, _spec(data, "by-table", "shifted",
                                 f'gcsSink: {{format: JSON, uri: "{root / "by-table"}"}}',
                                 _report(reference)), "r-table")["drift"]  # fmt: skip
    by_files = _run(spark, _spec(data, "by-files", "shifted",
                                 f'gcsSink: {{format: JSON, uri: "{root / "by-files"}"}}',
                                 _report(_files(data["input"]))), "r-files")["drift"]  # fmt: skip
    assert by_table["reference"] == f"BigQuery table {table}"
    assert by_table["reference_rows"] == ROWS
    assert _psi(by_table) == _psi(by_files)
    assert {f["column"] for f in by_table["flagged"]} == {"x", "colour", "prediction"}


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            '{gcsSource: {format: PARQUET, uri: "/a/*.parquet"}, bigquerySource: {table: p.d.t}}',
            "report.reference: give exactly one of gcsSource (files) or bigquerySource",
        ),
        ('{gcsSource: {format: PARQUET, uri: "/a"}, sql: x}', "report.reference.sql: unknown"),
    ],
)
def test_bad_reference_mappings_exit_2_before_spark(
    data, reference, message, cli_in_process
) -> None:
    output = data["root"] / "never"
    sink = f'gcsSink: {{format: JSON, uri: "{output}"}}'
    proc = _cli(
        cli_in_process,
        _spec(data, "bad-mapping", "input", sink, _report(reference)),
        "reference_bad",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = _error_lines(proc)
    assert len(errors) == 1 and errors[0].startswith(f"error: {message}"), errors
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    states = [e["state"] for e in events if e.get("event") == "state"]
    assert states == ["PENDING", "FAILED"], states  # no SparkSession was started (RUNNING)
    assert not output.exists()


def test_output_inside_the_reference_exit_2_nothing_written(spark, data, cli_in_process) -> None:
    reshuffled = data["reshuffled"]
    before = _tree(reshuffled)
    inside = reshuffled / "scored"
    sink = f'gcsSink: {{format: JSON, uri: "{inside}"}}'
    proc = _cli(
        cli_in_process,
        _spec(data, "inside", "input", sink, _report(_files(reshuffled))),
        "ref_inside",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = _error_lines(proc)
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        f"error: gcsSink.uri: output '{inside}' lies inside the input of"
        " report.reference.gcsSource.uri"
    ), errors
    # report.path inside the reference folder: checked before anything is read
    sink = f'gcsSink: {{format: JSON, uri: "{data["root"] / "never"}"}}'
    report = _report(_files(reshuffled), f', path: "{reshuffled}/report"')
    spec = parse_spec_text(_spec(data, "report-inside", "input", sink, report).read_text())
    with pytest.raises(UserError, match=r"^report.path: '.*' lies inside the input of"
                                        r" report.reference.gcsSource.uri"):  # fmt: skip
        run_job(spark, spec, "reference", "inside")
    assert _tree(reshuffled) == before and not (data["root"] / "never").exists()


def test_missing_reference_files_exit_2_nothing_written(data, cli_in_process) -> None:
    output = data["root"] / "no-files"
    missing = data["root"] / "no-such-folder"
    sink = f'gcsSink: {{format: JSON, uri: "{output}"}}'
    proc = _cli(
        cli_in_process,
        _spec(data, "missing", "input", sink, _report(_files(missing))),
        "ref_missing",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = _error_lines(proc)
    assert len(errors) == 1 and errors[0].startswith("error: report.reference.gcsSource.uri"), (
        errors
    )
    assert not output.exists()


def test_reference_without_a_feature_column_exit_2_nothing_written(spark, data) -> None:
    """The reference's features are the input's: a column it lacks is named."""
    folder = _write(data["frame"].drop(columns=["colour"]), data["root"] / "no-colour", 2)
    output = data["root"] / "no-colour-out"
    sink = f'gcsSink: {{format: JSON, uri: "{output}"}}'
    spec = parse_spec_text(
        _spec(data, "no-colour", "input", sink, _report(_files(folder))).read_text()
    )
    with pytest.raises(UserError, match=r"^report.reference.gcsSource.features: column 'colour'"
                                        r" does not exist"):  # fmt: skip
        run_job(spark, spec, "reference", "no-colour")
    assert not output.exists()
    assert not list(output.parent.glob(f".{output.name}*"))  # no staging left either
