"""``engine: connector`` writes: the real spark-bigquery connector (3.5) writing through a GCS
staging bucket (``temporaryGcsBucket``) into bqemulator, and its direct write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud import bigquery

from spark_job.run.runner import JobResult, run_job
from spark_job.spec import parse_spec_text
from tests.bq_helpers import bq_client, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.connector.conftest import BUCKET, DATASET
from tests.fault_proxy import Fault, HttpFaultProxy
from tests.gcs_helpers import listing
from tests.models import save_probe_model
from tests.test_cli import assert_user_error, run_cli

FRAME = pd.DataFrame({"key": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0],
                      "day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01",
                                             "2024-02-02"]).date})  # fmt: skip
EXPECTED = [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]


@pytest.fixture(scope="module")
def write_env(connector_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("connector_write")
    (root / "input").mkdir()
    FRAME.iloc[:2].to_parquet(root / "input" / "p0.parquet", index=False)
    FRAME.iloc[2:].to_parquet(root / "input" / "p1.parquet", index=False)
    (root / "bad_input").mkdir()
    FRAME.assign(x=[1.0, -2.0, 3.0, 4.0]).to_parquet(root / "bad_input" / "p.parquet", index=False)
    save_probe_model(root / "model", "fail_if_negative")
    return root


def table_id(name: str) -> str:
    return f"{EMULATOR_PROJECT}.{DATASET}.{name}"


def spec_text(root: Path, table: str, mode: str = "ERRORIFEXISTS", options: str = "",
              source: str = "input", extra: str = "", features: str = "[x]") -> str:  # fmt: skip
    return f"""
gcsSource:
  format: PARQUET
  uri: {root / source}
  features: {features}
  passthrough: [key]
model: {{uri: {root / "model"}}}
bigquerySink:
  table: {table_id(table)}
  save_mode: {mode}
  options: {{engine: connector, temporaryGcsBucket: {BUCKET}{options}}}
{extra}"""


def run(spark: Any, text: str, run_id: str = "r1", job: str = "connector_job") -> JobResult:
    return run_job(spark, parse_spec_text(text), job, run_id)


def rows(table: str) -> list[tuple[Any, ...]]:
    found = run_sql(f"SELECT key, prediction FROM `{table_id(table)}`")
    return sorted((row["key"], row["prediction"]) for row in found)


def existing_table(name: str, *fields: str, old_rows: int = 0) -> None:
    """A fresh table ``name`` of STRING ``key`` and FLOAT ``fields``, holding ``old_rows``
    rows ``("old", -1.0)``."""
    client = bq_client()
    client.delete_table(table_id(name), not_found_ok=True)
    schema = [bigquery.SchemaField("key", "STRING")]
    schema += [bigquery.SchemaField(field, "FLOAT") for field in fields]
    client.create_table(bigquery.Table(table_id(name), schema=schema))
    old = [{"key": "old", "prediction": -1.0}] * old_rows
    assert not old or not client.insert_rows_json(table_id(name), old)


def staging_is_empty() -> bool:
    return listing(BUCKET) == []


def test_every_save_mode(connector_spark: Any, write_env: Path) -> None:
    name = "modes"
    bq_client().delete_table(table_id(name), not_found_ok=True)
    result = run(connector_spark, spec_text(write_env, name), run_id="modes-1")
    assert (result.status, result.rows_written) == ("COMPLETED", 4)
    assert rows(name) == EXPECTED and staging_is_empty()

    text = spec_text(write_env, name, "APPEND")
    assert run(connector_spark, text, run_id="modes-2").rows_written == 4
    assert rows(name) == sorted(EXPECTED * 2)

    result = run(connector_spark, spec_text(write_env, name, "IGNORE"), run_id="modes-3")
    assert result.status == "SKIPPED" and rows(name) == sorted(EXPECTED * 2)

    assert run(connector_spark, spec_text(write_env, name, "OVERWRITE"), run_id="modes-4")
    assert rows(name) == EXPECTED and staging_is_empty()
    schema = {f.name: f.field_type for f in bq_client().get_table(table_id(name)).schema}
    assert schema == {"key": "STRING", "x": "FLOAT", "prediction": "FLOAT"}


def test_error_if_exists_fails_before_predicting_and_leaves_the_table(write_env: Path) -> None:
    name = "kept"
    existing_table(name, "prediction", old_rows=1)
    spec = write_env / "kept.yaml"
    spec.write_text(spec_text(write_env, name))
    proc = run_cli("--job-name", "kept", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "bigquerySink.table")
    assert "ERRORIFEXISTS" in proc.stderr and "instances:" not in proc.stdout
    assert rows(name) == [("old", -1.0)] and staging_is_empty()


def test_a_rerun_of_the_same_run_appends_nothing_twice(
    connector_spark: Any, write_env: Path
) -> None:
    name = "rerun"
    bq_client().delete_table(table_id(name), not_found_ok=True)
    text = spec_text(write_env, name, "APPEND")
    assert run(connector_spark, text, run_id="same-run").rows_written == 4
    again = run(connector_spark, text, run_id="same-run")  # a restarted driver of that run
    assert again.status == "COMPLETED" and "nothing written again" in again.resume_note
    assert again.rows_written == 4
    assert rows(name) == EXPECTED
    assert run(connector_spark, text, run_id="next-run").rows_written == 4  # another run
    assert rows(name) == sorted(EXPECTED * 2)


@pytest.mark.parametrize("intermediate", ["parquet", "avro", "orc"])
def test_intermediate_formats(connector_spark: Any, write_env: Path, intermediate: str) -> None:
    name = f"via_{intermediate}"
    bq_client().delete_table(table_id(name), not_found_ok=True)
    text = spec_text(write_env, name, options=f", intermediateFormat: {intermediate}")
    assert run(connector_spark, text, run_id=name).rows_written == 4
    assert rows(name) == EXPECTED and staging_is_empty()


def test_create_never_on_a_missing_table_is_a_user_error(write_env: Path) -> None:
    bq_client().delete_table(table_id("never"), not_found_ok=True)
    spec = write_env / "never.yaml"
    spec.write_text(spec_text(write_env, "never", options=", createDisposition: CREATE_NEVER"))
    proc = run_cli("--job-name", "never", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "bigquerySink.options.createDisposition: CREATE_NEVER")
    assert not table_exists(table_id("never")) and staging_is_empty()


def test_partitioned_and_clustered_table(connector_spark: Any, write_env: Path) -> None:
    name = "partitioned"
    bq_client().delete_table(table_id(name), not_found_ok=True)
    options = ", partitionField: day, partitionType: DAY, clusteredFields: key"
    text = spec_text(write_env, name, options=options, features="[x, day]")
    assert run(connector_spark, text, run_id=name).rows_written == 4
    table = bq_client().get_table(table_id(name))
    assert table.time_partitioning is not None and table.time_partitioning.field == "day"
    assert table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["key"]
    assert rows(name) == EXPECTED


def test_allow_field_addition_appends_a_new_column(connector_spark: Any, write_env: Path) -> None:
    name = "widened"
    existing_table(name, "x", "prediction")
    options = ", allowFieldAddition: 'true'"
    text = spec_text(write_env, name, "APPEND", options=options, features="[x, day]")
    assert run(connector_spark, text, run_id=name).rows_written == 4
    fields = [f.name for f in bq_client().get_table(table_id(name)).schema]
    assert fields[:3] == ["key", "x", "prediction"] and "day" in fields
    assert rows(name) == EXPECTED


def test_direct_write_method(connector_spark: Any, write_env: Path) -> None:
    name = "direct"
    bq_client().delete_table(table_id(name), not_found_ok=True)
    text = spec_text(write_env, name, options=", writeMethod: direct")
    assert run(connector_spark, text, run_id=name).rows_written == 4
    assert rows(name) == EXPECTED
    overwrite = spec_text(write_env, name, "OVERWRITE", options=", writeMethod: direct")
    assert run(connector_spark, overwrite, run_id=f"{name}-2").rows_written == 4
    assert rows(name) == EXPECTED


def test_record_and_continue_fills_the_errors_table(connector_spark: Any, write_env: Path) -> None:
    name = "judged"
    client = bq_client()
    for table in (name, f"{name}_errors"):
        client.delete_table(table_id(table), not_found_ok=True)
    extra = "errorHandling: {mode: RECORD_AND_CONTINUE, maxErrorRatio: 0.5}\n"
    text = spec_text(write_env, name, source="bad_input", extra=extra)
    result = run(connector_spark, text, run_id=name)
    assert (result.rows_predicted, result.rows_failed, result.rows_written) == (3, 1, 3)
    assert rows(name) == [("a", 1.0), ("c", 3.0), ("d", 4.0)]
    errors = run_sql(f"SELECT * FROM `{table_id(name + '_errors')}`")
    assert len(errors) == 1 and "negative" in str(dict(errors[0])).lower()
    assert staging_is_empty()


def test_a_write_failing_in_its_tasks_leaves_the_table_and_no_staging(
    connector_env: dict[str, str], write_env: Path
) -> None:
    """The connector's write tasks fail mid-write — a proxy in front of fake-gcs-server lets the
    first object of the connector's staging through, then refuses the others, on every task
    attempt — so the job fails (exit 1, not a user error): the OVERWRITE leaves the table as it
    was and nothing is left in the staging bucket (neither the connector's nor the job's)."""
    name = "kept_on_failure"
    existing_table(name, "x", "prediction", old_rows=1)
    spec = write_env / "failing.yaml"
    spec.write_text(spec_text(write_env, name, "OVERWRITE"))
    upstream = os.environ["STORAGE_EMULATOR_HOST"].removeprefix("http://")
    refused = Fault("POST", ".spark-bigquery-", 403, "injected: write refused", times=1000, after=1)
    proxy = HttpFaultProxy(upstream, faults=[refused]).start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "spark_job", "--job-name", "failing", "--local",
             "--spec-path", str(spec)],
            capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
            env={**os.environ, "STORAGE_EMULATOR_HOST": f"http://{proxy.address}"},
        )  # fmt: skip
    finally:
        proxy.stop()
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert refused.seen >= 1 and "Traceback" not in proc.stderr
    assert rows(name) == [("old", -1.0)]
    assert staging_is_empty(), listing(BUCKET)
