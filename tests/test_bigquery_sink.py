"""The BigQuery sink against real emulators: bqemulator + fake-gcs-server sharing one root."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud.bigquery import SchemaField

from spark_job.bigquery import load
from spark_job.bigquery.clients import bigquery_client
from spark_job.bigquery.table_id import TableId
from spark_job.errors import UserError
from spark_job.run.runner import JobResult, run_job
from spark_job.spec import BigQueryWriteOptions, parse_spec_text
from spark_job.storage import gcs
from tests.bq_helpers import bq_client, create_dataset, create_table, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.fault_proxy import Fault, HttpFaultProxy
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
    (root / "empty_input").mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).slice(0, 0),
                   root / "empty_input" / "p0.parquet")  # fmt: skip
    (root / "loads").mkdir()
    # a model that leaves one file in ``loads`` each time it is loaded
    marked_model = save_probe_model(root / "marked_model", "sum", load_marker=str(root / "loads"))
    for saved_by_mlflow in (root / "loads").iterdir():  # MLflow loads it once when saving
        saved_by_mlflow.unlink()
    return {
        "root": root,
        "model": save_probe_model(root / "model", "fail_if_negative"),
        "marked_model": marked_model,
    }


def _spec(env: dict[str, Path], table: str, mode: str = "ERRORIFEXISTS", options: str = "",
          source: str = "input", model: str = "model") -> str:  # fmt: skip
    return f"""
gcsSource:
  format: PARQUET
  uri: {env["root"] / source}
  features: [x, day, tags]
  passthrough: [key]
model: {{uri: {env[model]}}}
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


def _leave_staged(name: str) -> None:
    """An object in staging as a killed driver leaves it behind (its rows must never load)."""
    with tempfile.TemporaryDirectory() as directory:
        local = Path(directory) / "killed.parquet"
        pq.write_table(pa.table({"key": ["zombie"], "prediction": [9.0]}), local)
        gcs.upload_file(gcs.client(), str(local), gcs.GcsPath(BUCKET, name))


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


@pytest.mark.parametrize("mode", ["ERRORIFEXISTS", "ERROR", "OVERWRITE", "APPEND", "IGNORE"])
def test_every_save_mode_creates_a_missing_table(spark, sink_env, mode: str) -> None:
    table = f"missing_{mode.lower()}"
    result = _run(spark, _spec(sink_env, table, mode), run_id=f"missing-{mode}")
    assert result.status == "COMPLETED" and result.rows_written == 4
    assert _rows(table) == EXPECTED
    assert _staging_objects() == []


@pytest.mark.parametrize("mode", ["ERRORIFEXISTS", "ERROR"])
def test_error_if_exists_fails_before_compute(spark, sink_env, mode: str) -> None:
    table = f"exists_{mode.lower()}"
    _existing_table(table)
    with pytest.raises(UserError, match=f"bigquerySink.table: .*{table} already exists"):
        _run(spark, _spec(sink_env, table, mode, model="marked_model"), run_id="e1")
    assert _rows(table) == [("old", -1.0)]
    assert list((sink_env["root"] / "loads").iterdir()) == []  # the model was never loaded


def test_ignore_skips_an_existing_table(spark, sink_env) -> None:
    _existing_table("exists_ignore")
    text = _spec(sink_env, "exists_ignore", "IGNORE", model="marked_model")
    result = _run(spark, text, run_id="i1")
    assert result.status == "SKIPPED" and "save_mode is IGNORE" in result.summary()
    assert _rows("exists_ignore") == [("old", -1.0)]
    assert list((sink_env["root"] / "loads").iterdir()) == []


@pytest.mark.spark35
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
    assert table.time_partitioning.expiration_ms == 86400000
    assert _rows("partitioned") == EXPECTED
    # OVERWRITE of the partitioned, clustered table: the load states the table's own spec
    _run(spark, _spec(sink_env, "partitioned", "OVERWRITE"), run_id="p2")
    assert _rows("partitioned") == EXPECTED
    again = bq_client().get_table(f"{EMULATOR_PROJECT}.{DATASET}.partitioned")
    assert again.time_partitioning.field == "day" and again.clustering_fields == ["key"]


@pytest.mark.parametrize("fmt", ["parquet", "orc", "avro"])
def test_intermediate_formats_stage_readable_files(spark, sink_env, fmt: str, tmp_path) -> None:
    """bqemulator cannot load ORC (a cursor bug) nor Avro (DuckDB downloads its avro extension,
    offline here), so the staged files themselves are read back from fake-gcs-server — those
    of the partitions (scored by the model in the staging tasks), and the empty file staged
    when no row was predicted."""
    from spark_job.bigquery.staging import staging_encoding
    from spark_job.run.runner import predictions_of
    from spark_job.scoring.model import ship_model
    from spark_job.scoring.row_errors import RowErrors
    from spark_job.sinks.stager import StageTarget, stage_empty, stage_partitions

    columns = ["key", "x", "day", "tags", "prediction"]

    def read_back(name: str) -> list[dict[str, Any]]:
        import fastavro
        import pyarrow.orc as orc

        local = tmp_path / name.replace("/", "_")
        gcs.download_file(gcs.client(), gcs.GcsPath(BUCKET, f"{prefix}/{name}"), str(local))
        if fmt == "avro":
            with open(local, "rb") as handle:
                reader = fastavro.reader(handle)
                fields = {f["name"]: f["type"] for f in reader.writer_schema["fields"]}
                assert list(fields) == columns
                # REPEATED holds no NULL: array items are not a union with null.
                assert fields["tags"][1]["items"] == "long"
                return list(reader)
        table = pq.read_table(local) if fmt == "parquet" else orc.read_table(local)
        assert table.column_names == columns
        return table.to_pylist()

    spec = parse_spec_text(_spec(sink_env, "unused"))
    frame = spark.read.parquet(str(sink_env["root"] / "input"))
    shipped = ship_model(spark, sink_env["model"])
    errors = RowErrors.create(spark, spec.error_handling, spec.source_field)
    predicted = spark.sparkContext.accumulator(0)
    predictions = predictions_of(frame, spec, shipped.name, predicted, errors)
    prefix = f"formats-{fmt}"
    target = StageTarget(f"gs://{BUCKET}/{prefix}", staging_encoding(fmt), gcs.emulator_host())
    staged = stage_partitions(predictions, target)
    assert sum(f.rows for f in staged) == 4 == predicted.value
    records = [record for f in staged for record in read_back(f.name)]
    got = sorted((r["key"], r["x"], r["day"], list(r["tags"]), r["prediction"]) for r in records)
    assert got[0] == ("a", 1.0, dt.date(2024, 1, 1), [1, 2], 1.0)
    assert [row[0] for row in got] == ["a", "b", "c", "d"]
    empty = stage_empty(target, predictions.schema, f"part-empty.{fmt}")
    assert empty.rows == 0 and read_back(empty.name) == []
    gcs.delete_prefix(gcs.client(), gcs.GcsPath(BUCKET, prefix))


def test_avro_staging_refuses_types_it_cannot_write_before_any_task() -> None:
    from pyspark.sql.types import MapType, StringType, StructField, StructType

    from spark_job.bigquery.staging import check_stageable
    from spark_job.errors import UserError

    schema = StructType([StructField("attributes", MapType(StringType(), StringType()))])
    check_stageable(schema, "parquet", "bigquerySink")
    with pytest.raises(UserError, match=r"bigquerySink\.options\.intermediateFormat: .*attributes"):
        check_stageable(schema, "avro", "bigquerySink")


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
    # the driver was killed after its load, before deleting its staged files
    _leave_staged("rerun_job-same-run/part-00000-0-killed.parquet")
    again = _run(spark, text, job="rerun_job", run_id="same-run")  # the restarted driver
    assert first.status == "COMPLETED"
    assert again.status == "COMPLETED" and "load job" in again.summary()
    assert again.rows_written == len(EXPECTED)  # as the earlier attempt's load job counted
    assert _staging_objects() == []
    assert _rows("rerun_append") == sorted([("old", -1.0), *EXPECTED])
    third = _run(spark, text, job="rerun_job", run_id="next-run")
    assert third.status == "COMPLETED" and len(_rows("rerun_append")) == 9


def test_restarted_driver_adopts_the_empty_table_its_dead_attempt_created(spark, sink_env) -> None:
    """A driver killed between creating the table and finishing the load leaves an empty table
    labelled with its run. The table is made here exactly as the sink makes it (the same
    function, the same label), as a driver that died right after that call would leave it."""
    table = TableId(EMULATOR_PROJECT, DATASET, "half_done")
    fields = [SchemaField("key", "STRING"), SchemaField("prediction", "FLOAT64")]
    marker = load.run_marker("sink_job", "dead-1")
    load.create_table(bigquery_client(EMULATOR_PROJECT), table, fields, BigQueryWriteOptions(),
                      marker)  # fmt: skip
    _leave_staged("sink_job-dead-1/part-00001-0-killed.parquet")
    with pytest.raises(UserError, match="half_done already exists"):  # another run: not its own
        _run(spark, _spec(sink_env, "half_done"), run_id="other-run")
    result = _run(spark, _spec(sink_env, "half_done"), run_id="dead-1")  # the restarted driver
    assert result.status == "COMPLETED" and _rows("half_done") == EXPECTED
    created = bq_client().get_table(str(table))
    assert created.labels == {load.RUN_LABEL: marker}
    assert [f.name for f in created.schema] == ["key", "x", "day", "tags", "prediction"]
    assert _staging_objects() == []  # nor was the dead attempt's file loaded (4 rows above)


def test_empty_result_is_one_load_too(spark, sink_env) -> None:
    """No rows predicted: OVERWRITE still replaces the table's rows (with none) through the
    run's single load job, and a missing table is created with the output's schema."""
    _existing_table("empty_overwrite")
    result = _run(spark, _spec(sink_env, "empty_overwrite", "OVERWRITE", source="empty_input"),
                  job="empty_job", run_id="e-1")  # fmt: skip
    assert result.status == "COMPLETED" and result.rows_written == 0
    assert _rows("empty_overwrite") == []
    job = bq_client().get_job("spark_job_empty_job_e-1")
    assert job.state == "DONE" and job.error_result is None and job.output_rows == 0
    _run(spark, _spec(sink_env, "empty_new", source="empty_input"), run_id="e-2")
    assert _rows("empty_new") == []
    assert _staging_objects() == []


def test_append_follows_the_tables_columns(spark, sink_env) -> None:
    """The table's columns come in another order, one of them REQUIRED, one not written by the
    job: the staged files carry the table's columns in its order, the unwritten one NULL."""
    table = f"{EMULATOR_PROJECT}.{DATASET}.reordered"
    create_table(
        table,
        [
            SchemaField("prediction", "FLOAT64"),
            SchemaField("note", "STRING"),
            SchemaField("tags", "INT64", mode="REPEATED"),
            SchemaField("day", "DATE"),
            SchemaField("x", "FLOAT64"),
            SchemaField("key", "STRING", mode="REQUIRED"),
        ],
    )
    run_sql(f"INSERT INTO `{table}` (prediction, note, key) VALUES (-1.0, 'kept', 'old')")
    _run(spark, _spec(sink_env, "reordered", "APPEND"), run_id="ro")
    rows = run_sql(f"SELECT key, prediction, note, day FROM `{table}`")
    got = sorted((r["key"], r["prediction"], r["note"], r["day"]) for r in rows)
    assert got == [
        ("a", 1.0, None, dt.date(2024, 1, 1)),
        ("b", 2.0, None, dt.date(2024, 1, 2)),
        ("c", 3.0, None, dt.date(2024, 1, 3)),
        ("d", 4.0, None, dt.date(2024, 1, 4)),
        ("old", -1.0, "kept", None),
    ]
    fields = {f.name: f.mode for f in bq_client().get_table(table).schema}
    assert fields["key"] == "REQUIRED"


def test_transient_bigquery_errors_are_retried(spark, sink_env, monkeypatch) -> None:
    """bqemulator never fails transiently: a proxy in front of it answers the first table
    lookup with 500 and the first two load-job inserts with 503, as BigQuery may."""
    proxy = HttpFaultProxy(
        os.environ["BIGQUERY_EMULATOR_HOST"],
        faults=[
            Fault("GET", "/tables/retried", 500),
            Fault("POST", "/jobs", 503, times=2),
        ],
    ).start()
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", proxy.address)
    try:
        result = _run(spark, _spec(sink_env, "retried"), run_id="t1")
    finally:
        proxy.stop()
        monkeypatch.undo()
    assert result.status == "COMPLETED" and _rows("retried") == EXPECTED
    assert [s for m, p, s in proxy.log if "/tables/retried" in p and m == "GET"][:2] == [500, 404]
    assert [s for m, p, s in proxy.log if m == "POST" and p.split("?")[0].endswith("/jobs")] == [
        503, 503, 200,
    ]  # fmt: skip


def test_a_failed_load_leaves_the_destination_as_it_was(spark, sink_env, monkeypatch) -> None:
    """The load job is rejected (the proxy answers its insert with 400, as BigQuery does an
    invalid load): a table created for it is dropped again, an existing one keeps its rows,
    staging is deleted, and the error names the table (exit 2)."""
    _existing_table("load_fails")
    proxy = HttpFaultProxy(
        os.environ["BIGQUERY_EMULATOR_HOST"],
        faults=[Fault("POST", "/jobs", 400, "Invalid load configuration", times=2)],
    ).start()
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", proxy.address)
    try:
        for table, mode in (("never_loaded", "ERRORIFEXISTS"), ("load_fails", "OVERWRITE")):
            with pytest.raises(UserError, match=f"bigquerySink.table: loading into .*{table}"
                               " failed: Invalid load configuration"):  # fmt: skip
                _run(spark, _spec(sink_env, table, mode), run_id=f"lf-{mode}")
    finally:
        proxy.stop()
        monkeypatch.undo()
    assert not table_exists(f"{EMULATOR_PROJECT}.{DATASET}.never_loaded")
    assert _rows("load_fails") == [("old", -1.0)]
    assert _staging_objects() == []


def test_staging_bucket_not_writable(spark, sink_env, monkeypatch) -> None:
    """fake-gcs-server has no IAM: a proxy answers uploads to the bucket with 403, as GCS does
    for a caller without storage.objects.create. Exit 2 before any compute."""
    upstream = os.environ["STORAGE_EMULATOR_HOST"].removeprefix("http://")
    denied = "caller does not have storage.objects.create access to the Google Cloud Storage"
    proxy = HttpFaultProxy(upstream, faults=[Fault("POST", f"/b/{BUCKET}/o", 403, denied)]).start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{proxy.address}")
    try:
        with pytest.raises(UserError) as raised:
            _run(spark, _spec(sink_env, "unwritable", model="marked_model"), run_id="w1")
    finally:
        proxy.stop()
        monkeypatch.undo()
    assert str(raised.value).startswith(
        f"bigquerySink.staging_bucket: cannot write to bucket '{BUCKET}': caller does not have"
    )
    assert not table_exists(f"{EMULATOR_PROJECT}.{DATASET}.unwritable")
    assert list((sink_env["root"] / "loads").iterdir()) == []


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


def _connector_stand_in(spark: Any, record: Path) -> None:
    """The spark-bigquery connector for Spark 4 is not served here (tests/connector runs the
    real one on the 3.5 line), so on this line a Python data source registered under the
    connector's name "bigquery" stands in for its writer: it writes
    the options and rows Spark handed it to local files ``<record>.*``. What the real connector
    does with them (its own staging and load) is its own business."""
    from pyspark.sql.datasource import DataSource, DataSourceWriter, WriterCommitMessage

    class Writer(DataSourceWriter):
        def __init__(self, options: dict[str, str], overwrite: bool) -> None:
            self.options, self.overwrite = options, overwrite

        def write(self, iterator: Iterator[Any]) -> WriterCommitMessage:
            keys = [row["key"] for row in iterator]
            with open(f"{record}.{os.getpid()}.{id(self)}", "w") as out:
                handed = {"options": self.options, "keys": keys, "overwrite": self.overwrite}
                json.dump(handed, out)
            return WriterCommitMessage()

    class ConnectorStandIn(DataSource):
        @classmethod
        def name(cls) -> str:
            return "bigquery"

        def writer(self, schema: Any, overwrite: bool) -> DataSourceWriter:
            return Writer({k.lower(): v for k, v in self.options.items()}, overwrite)

    spark.dataSource.register(ConnectorStandIn)


def _connector_spec(env: dict[str, Path], table: str, options: str = "", **kwargs: Any) -> str:
    text = _spec(env, table, options=", engine: connector" + options, **kwargs)
    return text.replace("{engine: storage-api, engine: connector", "{engine: connector")


def _handed(record: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in record.parent.glob(f"{record.name}.*")]


def test_connector_engine_hands_mode_table_and_options_to_sparks_writer(
    spark, sink_env, tmp_path: Path
) -> None:
    """The connector's writer is a stand-in (see ``_connector_stand_in``)."""
    record = tmp_path / "handed.json"
    _connector_stand_in(spark, record)
    _existing_table("via_connector")
    options = ", partitionField: day, writeMethod: indirect"
    text = _connector_spec(sink_env, "via_connector", options, mode="OVERWRITE")
    _run(spark, text, run_id="c1")
    handed = _handed(record)
    assert sum(len(h["keys"]) for h in handed) == 4 and all(h["overwrite"] for h in handed)
    assert handed[0]["options"] == {
        "table": f"{EMULATOR_PROJECT}.{DATASET}.via_connector",
        "temporarygcsbucket": BUCKET, "partitionfield": "day", "writemethod": "indirect",
        # the load job labelled with this run and its rows: a rerun finds it
        "bigqueryjoblabel.spark_job_run": load.run_marker("sink_job", "c1"),
        "bigqueryjoblabel.spark_job_rows": "4",
    }  # fmt: skip
    assert _rows("via_connector") == [("old", -1.0)]  # the stand-in wrote nothing to BigQuery


def test_connector_engine_judges_row_errors_before_the_connector_writes(
    spark, sink_env, tmp_path: Path
) -> None:
    """RECORD_AND_CONTINUE: the connector publishes as it writes, so every row is predicted and
    ``maxErrorRatio`` judged before it is handed anything (the writer is a stand-in, see
    ``_connector_stand_in``). One of the four instances fails the model."""
    record = tmp_path / "handed.json"
    _connector_stand_in(spark, record)
    text = _connector_spec(sink_env, "judged", mode="APPEND", source="bad_input")

    def with_ratio(ratio: float) -> str:
        return text + f"errorHandling: {{mode: RECORD_AND_CONTINUE, maxErrorRatio: {ratio}}}\n"

    with pytest.raises(UserError, match=r"errorHandling.maxErrorRatio: 1 of 4 instances failed"):
        _run(spark, with_ratio(0.1), run_id="j1")
    assert _handed(record) == []
    result = _run(spark, with_ratio(0.5), run_id="j2")
    assert (result.rows_predicted, result.rows_failed) == (3, 1)
    assert sorted(key for h in _handed(record) for key in h["keys"]) == ["a", "b", "d"]


@pytest.mark.spark35
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
    assert "instances: 2 succeeded, 0 failed; rows written: 2" in proc.stdout
    rows = run_sql(f"SELECT * FROM `{EMULATOR_PROJECT}.{DATASET}.table_iris_result`")
    assert sorted(round(r["prediction"], 6) for r in rows) == [10.2, 14.7]
    assert _staging_objects() == []
