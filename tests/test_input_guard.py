"""Never destroy input: an output over an input is refused before anything is read, under
every SaveMode (preflight, the runner, the CLI, a BigQuery table on the emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_job.errors import UserError
from spark_job.run.preflight import preflight
from spark_job.run.runner import run_job
from spark_job.spec import SaveMode, parse_spec_text
from tests.models import save_probe_model
from tests.test_cli import assert_user_error, run_cli

MODES = [mode.value for mode in SaveMode]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guard")
    (root / "data" / "in").mkdir(parents=True)
    pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}).to_parquet(root / "data" / "in" / "p.parquet")
    return {"root": root, "model": save_probe_model(root / "model", "sum")}


def _spec(files: dict[str, Path], inputs: str, output: str, mode: str, fmt: str = "JSON") -> Any:
    return parse_spec_text(f"""
gcsSource: {{format: PARQUET, {inputs}, features: [x], passthrough: [id]}}
model: {{uri: {files["model"]}}}
gcsSink: {{format: {fmt}, uri: "{output}", save_mode: {mode}}}
""")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_every_save_mode_is_refused_before_spark_starts(files: dict[str, Path], mode: str) -> None:
    data = files["root"] / "data"
    cases = [
        (f'uri: "{data}/in/*"', f"{data}/in", "is the input of gcsSource.uri"),
        (f'uri: "{data}/in"', f"{data}", "contains the input of gcsSource.uri"),
        (f'uris: ["{data}/other.parquet", "file://{data}/in"]', f"{data}/in/out/",
         "lies inside the input of gcsSource.uris[1]"),
        ('uri: "gs://bucket/data/pre*"', "gs://bucket/data/predictions",
         "lies inside the input of gcsSource.uri ('gs://bucket/data/pre*')"),
    ]  # fmt: skip
    for inputs, output, words in cases:
        with pytest.raises(UserError) as raised:
            preflight(_spec(files, inputs, output, mode), "guard", "run1")
        message = str(raised.value)
        assert message.startswith(f"gcsSink.uri: output '{output}' {words}"), message
        assert message.endswith("writing there would destroy it. Choose another output.")
    # a sibling that only shares a prefix is another place
    preflight(_spec(files, f'uri: "{data}/in"', f"{data}/input", mode), "guard", "run1")


def test_the_runner_refuses_too(spark: Any, files: dict[str, Path]) -> None:
    """``run_job`` without preflight (a caller building its own sink) checks the same."""
    data = files["root"] / "data"
    before = _snapshot(data)
    spec = _spec(files, f'uri: "{data}/in"', f"{data}/in", "OVERWRITE", fmt="PARQUET")
    with pytest.raises(UserError, match=r"gcsSink.uri: output '.*/in' is the input of gcsSource"):
        run_job(spark, spec, "guard", "run2")
    assert _snapshot(data) == before
    assert sorted(p.name for p in data.iterdir()) == ["in"]  # no staging left either


def test_cli_exits_2_and_writes_nothing(files: dict[str, Path]) -> None:
    root, data = files["root"], files["root"] / "data"
    before = _snapshot(data)
    spec = root / "overwrite_input.yaml"
    spec.write_text(f"""
gcsSource: {{format: PARQUET, uri: "{data}/in/*", features: [x], passthrough: [id]}}
model: {{uri: {files["model"]}}}
gcsSink: {{format: PARQUET, uri: "{data}/in", save_mode: OVERWRITE}}
""")
    proc = run_cli("--job-name", "guard", "--spec-path", str(spec), "--local")
    assert_user_error(
        proc,
        f"error: gcsSink.uri: output '{data}/in' is the input of gcsSource.uri ('{data}/in/*');"
        " writing there would destroy it. Choose another output.",
    )
    assert "SparkContext" not in proc.stderr  # refused in preflight, before Spark
    assert _snapshot(data) == before
    assert sorted(p.name for p in data.iterdir()) == ["in"]


def test_bigquery_sink_on_its_own_source_table(spark: Any, tmp_path: Path) -> None:
    from google.cloud import bigquery

    from spark_job.sources import open_source
    from tests.bq_helpers import bq_client, create_dataset, create_table, run_sql
    from tests.conftest import EMULATOR_PROJECT

    dataset = create_dataset("guard")
    table = f"{dataset}.scores"
    create_table(table, [bigquery.SchemaField("x", "FLOAT")])
    run_sql(f"INSERT INTO `{table}` (x) VALUES (1.0), (2.0)")
    model = save_probe_model(tmp_path / "model", "sum")
    for mode in MODES:
        spec = parse_spec_text(f"""
bigquerySource: {{table: "{EMULATOR_PROJECT}:guard.scores", features: [x]}}
model: {{uri: {model}}}
bigquerySink: {{table: guard.scores, staging_bucket: b, save_mode: {mode}}}
""")  # the sink's dataset.table in the default project: the same table
        with pytest.raises(UserError) as raised:
            preflight(spec, "guard_bq", "run1")
        assert str(raised.value).startswith(
            f"bigquerySink.table: table {table} is the input of bigquerySource.table"
            f" ('{EMULATOR_PROJECT}:guard.scores'); writing there would destroy it."
        )
    # RECORD_AND_CONTINUE: the errors table counts as an output too
    spec = parse_spec_text(f"""
bigquerySource: {{table: {dataset}.scores_errors, features: [x]}}
model: {{uri: {model}}}
bigquerySink: {{table: {dataset}.scores, staging_bucket: b, save_mode: APPEND}}
errorHandling: {{mode: RECORD_AND_CONTINUE}}
""")
    with pytest.raises(UserError, match=r"^bigquerySink.table: errors table .*scores_errors is"):
        preflight(spec, "guard_bq", "run1")
    # A view over the sink's table: the emulator tells neither the view's query nor what a
    # dry run references, so only the view itself can be compared (a warning says so);
    # with BigQuery's answers the base tables are found (tests/unit/test_locations.py).
    view = bigquery.Table(f"{dataset}.scores_view")
    view.view_query = f"SELECT x FROM `{table}`"
    bq_client().create_table(view)
    spec = parse_spec_text(
        f"""
bigquerySource: {{table: {dataset}.scores_view, features: [x]}}
model: {{uri: {model}}}
bigquerySink: {{table: {table}, staging_bucket: b}}
"""
    )
    assert open_source(spec).read_through() == []
    assert [r.x for r in run_sql(f"SELECT x FROM `{table}` ORDER BY x")] == [1.0, 2.0]
