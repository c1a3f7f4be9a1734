"""The BigQuery sink against real emulators: bqemulator + fake-gcs-server sharing one root."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud.bigquery import SchemaField

from spark_job import gcs
from spark_job.errors import UserError
from spark_job.runner import JobResult, run_job
from spark_job.spec import parse_spec_text
from tests.bq_helpers import bq_client, create_dataset, create_table, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.models import save_probe_model

DATASET = "sink_tests"
BUCKET = "staging-bucket"


@pytest.fixture(scope="module")
def sink_env(emulators: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    create_dataset(DATASET)
    storage = gcs.client()
    if storage.lookup_bucket(BUCKET) is None:
        storage.create_bucket(BUCKET)
    root = tmp_path_factory.mktemp("sink")
    frame = pd.DataFrame(
        {
            "key": ["a", "b", "c", "d"],
            "x": [1.0, 2.0, 3.0, 4.0],
            "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
            "tags": [[1, 2], [], [3], [4, 5, 6]],
        }
    )
    (root / "input").mkdir()
    frame.iloc[:2].to_parquet(root / "input" / "p0.parquet", index=False)
    frame.iloc[2:].to_parquet(root / "input" / "p1.parquet", index=False)
    bad = frame.assign(x=[1.0, 2.0, -3.0, 4.0])
    (root / "bad_input").mkdir()
    bad.iloc[:2].to_parquet(root / "bad_input" / "p0.parquet", index=False)
    bad.iloc[2:].to_parquet(root / "bad_input" / "p1.parquet", index=False)
    return {
        "root": root,
        "model": save_probe_model(root / "model", "fail_if_negative"),
    }


def _spec(env: dict[str, Path], table: str, mode: str = "ERRORIFEXISTS", options: str = "",
          source: str = "input") -> str:  # fmt: skip
    return f"""
gcsSource:
  format: PARQUET
  uri: {env["root"] / source}
  features: [x, day, tags]
  passthrough: [key]
model: {{uri: {env["model"]}}}
bigquerySink:
  table: {EMULATOR_PROJECT}.{DATASET}.{table}
  staging_bucket: {BUCKET}
  save_mode: {mode}
  options: {{engine: storage-api{options}}}
"""


def _run(spark: Any, text: str, job: str = "sink_job", run_id: str = "r1") -> JobResult:
    return run_job(spark, parse_spec_text(text), job, run_id)


def _rows(table: str) -> list[tuple[Any, ...]]:
    rows = run_sql(f"SELECT key, prediction FROM `{EMULATOR_PROJECT}.{DATASET}.{table}`")
    return sorted((row["key"], row["prediction"]) for row in rows)


def _staging_objects() -> list[str]:
    return [obj.name for obj in gcs.list_prefix(gcs.client(), gcs.GcsPath(BUCKET, ""))]


EXPECTED = [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]


def _existing_table(name: str) -> None:
    table = f"{EMULATOR_PROJECT}.{DATASET}.{name}"
    create_table(
        table,
        [
            SchemaField("key", "STRING"),
            SchemaField("x", "FLOAT64"),
            SchemaField("day", "DATE"),
            SchemaField("tags", "INT64", mode="REPEATED"),
            SchemaField("prediction", "FLOAT64"),
        ],
    )
    run_sql(f"INSERT INTO `{table}` (key, prediction) VALUES ('old', -1.0)")


@pytest.mark.parametrize("mode", ["ERRORIFEXISTS", "OVERWRITE", "APPEND", "IGNORE"])
def test_every_save_mode_creates_a_missing_table(spark, sink_env, mode: str) -> None:
    table = f"missing_{mode.lower()}"
    result = _run(spark, _spec(sink_env, table, mode), run_id=f"missing-{mode}")
    assert result.status == "COMPLETED" and result.rows_written == 4
    assert _rows(table) == EXPECTED
    assert _staging_objects() == []


def test_error_if_exists_fails_before_compute(spark, sink_env) -> None:
    _existing_table("exists_error")
    with pytest.raises(UserError, match="bigquerySink.table: .*exists_error already exists"):
        _run(spark, _spec(sink_env, "exists_error", "ERRORIFEXISTS"), run_id="e1")
    assert _rows("exists_error") == [("old", -1.0)]


def test_ignore_skips_an_existing_table(spark, sink_env) -> None:
    _existing_table("exists_ignore")
    result = _run(spark, _spec(sink_env, "exists_ignore", "IGNORE"), run_id="i1")
    assert result.status == "SKIPPED" and "save_mode is IGNORE" in result.summary()
    assert _rows("exists_ignore") == [("old", -1.0)]


def test_overwrite_replaces_and_append_adds(spark, sink_env) -> None:
    _existing_table("exists_overwrite")
    _run(spark, _spec(sink_env, "exists_overwrite", "OVERWRITE"), run_id="o1")
    assert _rows("exists_overwrite") == EXPECTED
    _existing_table("exists_append")
    _run(spark, _spec(sink_env, "exists_append", "APPEND"), run_id="a1")
    assert _rows("exists_append") == sorted([("old", -1.0), *EXPECTED])


def test_date_and_array_round_trip(spark, sink_env) -> None:
    _run(spark, _spec(sink_env, "round_trip"), run_id="rt")
    table = bq_client().get_table(f"{EMULATOR_PROJECT}.{DATASET}.round_trip")
    kinds = {f.name: (f.field_type, f.mode) for f in table.schema}
    assert kinds["day"] == ("DATE", "NULLABLE")
    assert kinds["tags"][1] == "REPEATED" and kinds["tags"][0] in ("INT64", "INTEGER")
    rows = run_sql(f"SELECT key, day, tags FROM `{table.full_table_id.replace(':', '.')}`")
    got = sorted((r["key"], r["day"], list(r["tags"])) for r in rows)
    assert got == [
        ("a", dt.date(2024, 1, 1), [1, 2]),
        ("b", dt.date(2024, 1, 2), []),
        ("c", dt.date(2024, 1, 3), [3]),
        ("d", dt.date(2024, 1, 4), [4, 5, 6]),
    ]


def test_partitioned_and_clustered_table_creation(spark, sink_env) -> None:
    options = (", partitionField: day, partitionType: DAY, partitionExpirationMs: '86400000',"
               " clusteredFields: 'key'")  # fmt: skip
    _run(spark, _spec(sink_env, "partitioned", options=options), run_id="p1")
    table = bq_client().get_table(f"{EMULATOR_PROJECT}.{DATASET}.partitioned")
    assert table.time_partitioning.field == "day"
    assert table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["key"]
    assert _rows("partitioned") == EXPECTED


@pytest.mark.parametrize("fmt", ["parquet", "orc", "avro"])
def test_intermediate_formats_stage_readable_files(spark, sink_env, fmt: str, tmp_path) -> None:
    """bqemulator cannot load ORC (a cursor bug) nor Avro (DuckDB downloads its avro extension,
    offline here), so the staged files themselves are read back from fake-gcs-server."""
    import fastavro
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    from spark_job.bigquery.staging import stage_partitions

    frame = spark.read.parquet(str(sink_env["root"] / "input"))
    staged = stage_partitions(frame, BUCKET, f"formats-{fmt}", fmt, gcs.emulator_host())
    assert sum(rows for _, rows in staged) == 4
    records: list[dict[str, Any]] = []
    for name, _ in staged:
        local = tmp_path / name.replace("/", "_")
        gcs.download_file(gcs.client(), gcs.GcsPath(BUCKET, name), str(local))
        if fmt == "avro":
            with open(local, "rb") as handle:
                records.extend(fastavro.reader(handle))
        else:
            table = pq.read_table(local) if fmt == "parquet" else orc.read_table(local)
            records.extend(table.to_pylist())
    gcs.delete_prefix(gcs.client(), gcs.GcsPath(BUCKET, f"formats-{fmt}"))
    got = sorted((r["key"], r["x"], r["day"], list(r["tags"])) for r in records)
    assert got[0] == ("a", 1.0, dt.date(2024, 1, 1), [1, 2])
    assert [row[0] for row in got] == ["a", "b", "c", "d"]


def test_failure_leaves_no_table_and_no_staging(spark, sink_env) -> None:
    text = _spec(sink_env, "never_created", source="bad_input")
    with pytest.raises(Exception, match="negative feature value"):
        _run(spark, text, run_id="fail1")
    assert not table_exists(f"{EMULATOR_PROJECT}.{DATASET}.never_created")
    assert _staging_objects() == []


def test_rerun_after_successful_load_does_not_duplicate(spark, sink_env) -> None:
    _existing_table("rerun_append")
    text = _spec(sink_env, "rerun_append", "APPEND")
    first = _run(spark, text, job="rerun_job", run_id="same-run")
    again = _run(spark, text, job="rerun_job", run_id="same-run")  # a restarted driver
    assert first.status == "COMPLETED"
    assert again.status == "SKIPPED" and "load job" in again.summary()
    assert _rows("rerun_append") == sorted([("old", -1.0), *EXPECTED])
    third = _run(spark, text, job="rerun_job", run_id="next-run")
    assert third.status == "COMPLETED" and len(_rows("rerun_append")) == 9


def test_user_errors(spark, sink_env) -> None:
    no_bucket = _spec(sink_env, "t").replace(f"  staging_bucket: {BUCKET}\n", "")
    with pytest.raises(UserError, match="bigquerySink.staging_bucket: required"):
        _run(spark, no_bucket)
    missing_dataset = _spec(sink_env, "t").replace(f".{DATASET}.t", ".no_such_dataset.t")
    with pytest.raises(UserError, match="bigquerySink.table: dataset .*no_such_dataset not found"):
        _run(spark, missing_dataset)
    with pytest.raises(UserError, match="bigquerySink.staging_bucket: bucket 'nope-bucket' not"):
        _run(spark, _spec(sink_env, "t").replace(BUCKET, "nope-bucket"))
    with pytest.raises(UserError, match="createDisposition: CREATE_NEVER but .* does not exist"):
        _run(spark, _spec(sink_env, "t", options=", createDisposition: CREATE_NEVER"))
    with pytest.raises(UserError, match="options.partitionType: 'WEEK' is not one of"):
        _run(spark, _spec(sink_env, "t", options=", partitionType: WEEK"))
    table = f"{EMULATOR_PROJECT}.{DATASET}.incompatible"
    create_table(table, [SchemaField("key", "INT64"), SchemaField("prediction", "FLOAT64")])
    with pytest.raises(UserError) as raised:
        _run(spark, _spec(sink_env, "incompatible", "APPEND"))
    message = str(raised.value)
    assert (
        "cannot APPEND to" in message and "'key' is STRING here but INT64 in the table" in message
    )
    assert "'x' is not in the table" in message
    assert not table_exists(f"{EMULATOR_PROJECT}.{DATASET}.t")


def test_connector_engine_hands_mode_table_and_options_to_sparks_writer(
    spark, sink_env, tmp_path: Path
) -> None:
    """The spark-bigquery connector jar cannot be downloaded here (no Maven), so a Python data
    source registered under the connector's name "bigquery" stands in for its writer: it writes
    the options and rows Spark handed it to a local file. What the real connector does with them
    (its own staging and load) is its own business."""
    from pyspark.sql.datasource import DataSource, DataSourceWriter, WriterCommitMessage

    record = str(tmp_path / "handed.json")

    class Writer(DataSourceWriter):
        def __init__(self, options: dict[str, str], overwrite: bool) -> None:
            self.options, self.overwrite = options, overwrite

        def write(self, iterator: Iterator[Any]) -> WriterCommitMessage:
            rows = sum(1 for _ in iterator)
            with open(f"{record}.{os.getpid()}.{id(self)}", "w") as out:
                json.dump({"options": self.options, "rows": rows, "overwrite": self.overwrite}, out)
            return WriterCommitMessage()

    class ConnectorStandIn(DataSource):
        @classmethod
        def name(cls) -> str:
            return "bigquery"

        def writer(self, schema: Any, overwrite: bool) -> DataSourceWriter:
            return Writer({k.lower(): v for k, v in self.options.items()}, overwrite)

    spark.dataSource.register(ConnectorStandIn)
    _existing_table("via_connector")
    options = ", engine: connector, partitionField: day, writeMethod: indirect"
    text = _spec(sink_env, "via_connector", "OVERWRITE", options).replace(
        "{engine: storage-api, engine: connector", "{engine: connector"
    )
    _run(spark, text, run_id="c1")
    handed = [json.loads(p.read_text()) for p in tmp_path.glob("handed.json.*")]
    assert sum(h["rows"] for h in handed) == 4 and all(h["overwrite"] for h in handed)
    assert handed[0]["options"] == {
        "table": f"{EMULATOR_PROJECT}.{DATASET}.via_connector",
        "temporarygcsbucket": BUCKET, "partitionfield": "day", "writemethod": "indirect",
    }  # fmt: skip
    assert _rows("via_connector") == [("old", -1.0)]  # the stand-in wrote nothing to BigQuery


def test_merlin_readme_sample_bigquery_to_bigquery_through_the_cli(sink_env, tmp_path) -> None:
    iris = f"{EMULATOR_PROJECT}.{DATASET}.table_iris"
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    create_table(iris, [SchemaField(n, "FLOAT64") for n in names])
    run_sql(f"INSERT INTO `{iris}` VALUES (5.1, 3.5, 1.4, 0.2), (6.2, 2.9, 4.3, 1.3)")
    model = save_probe_model(tmp_path / "model", "sum")
    spec = tmp_path / "merlin.yaml"
    spec.write_text(
        f"""kind: PredictionJob
version: v1
name: integration-test
bigquerySource:
  table: "{EMULATOR_PROJECT}:{DATASET}.table_iris"
  features:
    - sepal_length
    - sepal_width
    - petal_length
    - petal_width
model:
  type: PYFUNC_V2
  uri: {model}
  result:
    type: DOUBLE
bigquerySink:
  table: "{EMULATOR_PROJECT}.{DATASET}.table_iris_result"
  result_column: "prediction"
  save_mode: OVERWRITE
  options:
    project: "{EMULATOR_PROJECT}"
    temporaryGcsBucket: "{BUCKET}"
"""
    )
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "--job-name", "integration_test",
         "--spec-path", str(spec), "--local"],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows in: 2, rows out: 2" in proc.stdout
    rows = run_sql(f"SELECT * FROM `{EMULATOR_PROJECT}.{DATASET}.table_iris_result`")
    assert sorted(round(r["prediction"], 6) for r in rows) == [10.2, 14.7]
    assert _staging_objects() == []
