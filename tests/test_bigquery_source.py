"""The BigQuery source against a real BigQuery emulator (bqemulator), both engines.

What bqemulator cannot do, and how it is covered instead:
- BIGNUMERIC (DuckDB decimals stop at 38 digits: the table cannot be created), NUMERIC(P,S)
  parameters (not kept in the schema) and GEOGRAPHY (the spatial extension is not loaded
  offline): their mapping is tested on ``SchemaField`` objects and on Arrow arrays shaped as
  BigQuery sends them.
- Transient failures and IAM: real proxies in front of the emulator inject them
  (tests/fault_proxy.py).
- It ignores ``ReadRowsRequest.offset``, so resuming a stream broken mid-way (done by the
  client library) would duplicate rows here; only failures before a stream's first response are
  tested.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pyarrow as pa
import pytest
from google.cloud.bigquery import SchemaField

from spark_job.bigquery.engine import jvm_data_source_available
from spark_job.bigquery.read_source import avro_converter, conform_array
from spark_job.bigquery.types import TypeOptions, spark_schema, spark_type
from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.run.session import local_jars
from spark_job.sources.bigquery import BigQueryTableSource
from spark_job.spec import BigQuerySource, parse_spec_text
from tests.bq_helpers import bq_client, create_dataset, create_table, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.fault_proxy import Fault, GrpcFaultProxy, HttpFaultProxy
from tests.models import save_probe_model

DATASET = "source_tests"
SCRATCH = "source_scratch"  # a view materialization dataset
TYPES_TABLE = f"{EMULATOR_PROJECT}.{DATASET}.all_types"
NESTED_TABLE = f"{EMULATOR_PROJECT}.{DATASET}.nested"
COUNTED_TABLE = f"{EMULATOR_PROJECT}.{DATASET}.counted"  # rows streamed: metadata counts them
MANY_TABLE = f"{EMULATOR_PROJECT}.{DATASET}.many"
MANY = 100_000
VIEW = f"{EMULATOR_PROJECT}.{DATASET}.big_ids"
NEGATIVE_VIEW = f"{EMULATOR_PROJECT}.{DATASET}.negative"


@pytest.fixture(scope="module")
def bq_tables(emulators: Any) -> str:
    create_dataset(DATASET)
    create_dataset(SCRATCH)
    create_table(
        TYPES_TABLE,
        [
            SchemaField("id", "INT64"),
            SchemaField("f", "FLOAT64"),
            SchemaField("n", "NUMERIC"),
            SchemaField("b", "BOOL"),
            SchemaField("s", "STRING"),
            SchemaField("bt", "BYTES"),
            SchemaField("d", "DATE"),
            SchemaField("dtm", "DATETIME"),
            SchemaField("ts", "TIMESTAMP"),
            SchemaField("t", "TIME"),
            SchemaField("a", "INT64", mode="REPEATED"),
            SchemaField(
                "st", "RECORD", fields=[SchemaField("x", "INT64"), SchemaField("y", "STRING")]
            ),
            SchemaField("j", "JSON"),
        ],
    )
    run_sql(
        f"""INSERT INTO `{TYPES_TABLE}` (id, f, n, b, s, bt, d, dtm, ts, t, a, st, j) VALUES
        (1, 1.5, NUMERIC '1.25', true, 'x', b'ab', DATE '2020-01-02',
         DATETIME '2020-01-01 10:00:00', TIMESTAMP '2020-01-01 10:00:00+00', TIME '10:00:01',
         [1, 2], STRUCT(5 AS x, 'five' AS y), JSON '{{"a":1}}'),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, [], NULL, NULL),
        (3, 3.5, NUMERIC '-7', false, 'z', b'', DATE '1999-12-31',
         DATETIME '1999-12-31 23:59:59', TIMESTAMP '1999-12-31 23:59:59+00', TIME '00:00:00',
         [3], STRUCT(NULL AS x, NULL AS y), JSON '[]')"""
    )
    create_table(
        NESTED_TABLE,
        [
            SchemaField("id", "INT64"),
            SchemaField(
                "m",
                "RECORD",
                mode="REPEATED",
                fields=[
                    SchemaField("key", "STRING", mode="REQUIRED"),
                    SchemaField("value", "INT64"),
                ],
            ),
            SchemaField(
                "st", "RECORD", fields=[SchemaField("t", "TIME"), SchemaField("n", "NUMERIC")]
            ),
            SchemaField("times", "TIME", mode="REPEATED"),
            SchemaField(
                "rs",
                "RECORD",
                mode="REPEATED",
                fields=[SchemaField("x", "INT64"), SchemaField("tags", "STRING", mode="REPEATED")],
            ),
        ],
    )
    run_sql(
        f"""INSERT INTO `{NESTED_TABLE}` (id, m, st, times, rs) VALUES
        (1, [STRUCT('a' AS key, 1 AS value), STRUCT('b' AS key, NULL AS value)],
         STRUCT(TIME '00:00:02' AS t, NUMERIC '1.5' AS n), [TIME '00:00:03', TIME '00:01:00'],
         [STRUCT(7 AS x, ['p', 'q'] AS tags)]),
        (2, [], NULL, [], [])"""
    )
    # over 1 MB: bqemulator gives a small table one stream whatever the request
    create_table(MANY_TABLE, [SchemaField("id", "INT64"), SchemaField("x", "FLOAT64")])
    run_sql(
        f"INSERT INTO `{MANY_TABLE}` SELECT i, i / 2 FROM UNNEST(GENERATE_ARRAY(1, {MANY})) AS i"
    )
    create_table(COUNTED_TABLE, [SchemaField("id", "INT64"), SchemaField("x", "FLOAT64")])
    errors = bq_client().insert_rows_json(COUNTED_TABLE, [{"id": i, "x": i / 2} for i in range(10)])
    assert not errors
    run_sql(f"CREATE VIEW `{VIEW}` AS SELECT id, f, d FROM `{TYPES_TABLE}` WHERE id > 1")
    run_sql(f"CREATE VIEW `{NEGATIVE_VIEW}` AS SELECT id, -x AS g FROM `{COUNTED_TABLE}`")
    return TYPES_TABLE


def _source(**kwargs: Any) -> BigQuerySource:
    kwargs.setdefault("table", TYPES_TABLE)
    options = {"engine": "storage-api", **kwargs.pop("options", {})}
    return BigQuerySource(options=options, **kwargs)


def _rows(spark: Any, source: BigQuerySource) -> tuple[Any, list[Any]]:
    reader = BigQueryTableSource(source)
    try:
        frame = reader.read(spark)
        return frame, sorted(frame.collect(), key=lambda row: str(row[0]))
    finally:
        reader.close()


def _types(frame: Any) -> dict[str, str]:
    return {f.name: f.dataType.simpleString() for f in frame.schema.fields}


def _tables(dataset: str) -> list[str]:
    return [t.table_id for t in bq_client().list_tables(f"{EMULATOR_PROJECT}.{dataset}")]


# ------------------------------------------------------------------------------- types
EXPECTED_TYPES = {
    "id": "bigint", "f": "double", "n": "decimal(38,9)", "b": "boolean", "s": "string",
    "bt": "binary", "d": "date", "dtm": "timestamp_ntz", "ts": "timestamp", "t": "bigint",
    "a": "array<bigint>", "st": "struct<x:bigint,y:string>", "j": "string",
}  # fmt: skip


@pytest.mark.parametrize("data_format", ["ARROW", "AVRO"])
@pytest.mark.spark35
def test_every_type_maps_like_the_connector(spark, bq_tables: str, data_format: str) -> None:
    source = _source(options={"readDataFormat": data_format})
    frame, rows = _rows(spark, source)
    assert _types(frame) == EXPECTED_TYPES
    assert frame.schema["j"].metadata == {"sqlType": "JSON"}  # as the connector marks JSON
    first, empty, third = (row.asDict(recursive=True) for row in rows)
    assert first == {
        "id": 1, "f": 1.5, "n": Decimal("1.250000000"), "b": True, "s": "x",
        "bt": bytearray(b"ab"), "d": dt.date(2020, 1, 2),
        "dtm": dt.datetime(2020, 1, 1, 10, 0), "ts": dt.datetime(2020, 1, 1, 10, 0),
        "t": 36_001_000_000, "a": [1, 2], "st": {"x": 5, "y": "five"}, "j": '{"a":1}',
    }  # fmt: skip
    assert {k: v for k, v in empty.items() if k not in ("id", "a")} == dict.fromkeys(
        set(EXPECTED_TYPES) - {"id", "a"}
    )
    assert empty["a"] == []
    assert third["t"] == 0 and third["st"] == {"x": None, "y": None}


@pytest.mark.parametrize("data_format", ["ARROW", "AVRO"])
def test_maps_and_times_nested_in_records_and_arrays(spark, bq_tables, data_format) -> None:
    frame, rows = _rows(spark, _source(table=NESTED_TABLE, options={"readDataFormat": data_format}))
    assert _types(frame) == {
        "id": "bigint",
        "m": "map<string,bigint>",  # REPEATED RECORD<key REQUIRED, value>: the connector's map
        "st": "struct<t:bigint,n:decimal(38,9)>",
        "times": "array<bigint>",
        "rs": "array<struct<x:bigint,tags:array<string>>>",
    }
    first, second = (row.asDict(recursive=True) for row in rows)
    assert first == {
        "id": 1, "m": {"a": 1, "b": None}, "st": {"t": 2_000_000, "n": Decimal("1.500000000")},
        "times": [3_000_000, 60_000_000], "rs": [{"x": 7, "tags": ["p", "q"]}],
    }  # fmt: skip
    assert second == {"id": 2, "m": {}, "st": None, "times": [], "rs": []}

    options = {"readDataFormat": data_format, "allowMapTypeConversion": "false"}
    frame, rows = _rows(spark, _source(table=NESTED_TABLE, features=["m"], options=options))
    assert _types(frame) == {"m": "array<struct<key:string,value:bigint>>"}
    maps = {str(row.m) for row in rows}
    assert maps == {"[Row(key='a', value=1), Row(key='b', value=None)]", "[]"}


def test_types_the_emulator_cannot_store_map_like_the_connector() -> None:
    """BIGNUMERIC, parameterized NUMERIC and GEOGRAPHY, on the schema objects
    google-cloud-bigquery builds from a real table's JSON, and on Arrow arrays of the types
    the Storage Read API sends for them (decimal256(76,38) for BIGNUMERIC)."""

    def mapped(field: SchemaField, options: TypeOptions | None = None) -> str:
        return spark_type(field, options).simpleString()

    assert mapped(SchemaField("n", "NUMERIC", precision=10, scale=2)) == "decimal(10,2)"
    assert mapped(SchemaField("n", "NUMERIC", precision=10)) == "decimal(10,0)"
    assert mapped(SchemaField("n", "NUMERIC", precision=35)) == "decimal(35,6)"
    assert mapped(SchemaField("b", "BIGNUMERIC", precision=20, scale=5)) == "decimal(20,5)"
    assert mapped(SchemaField("g", "GEOGRAPHY")) == "string"
    narrowed = TypeOptions(big_numeric_precision=38, big_numeric_scale=10)
    assert mapped(SchemaField("b", "BIGNUMERIC"), narrowed) == "decimal(38,10)"
    with pytest.raises(UserError, match=r"column 'b' is BIGNUMERIC\(76,38\).*bigNumericDefault"):
        mapped(SchemaField("b", "BIGNUMERIC"))
    nested = SchemaField("r", "RECORD", fields=[SchemaField("big", "BIGNUMERIC")])
    with pytest.raises(UserError, match=r"column 'r.big' is BIGNUMERIC"):
        spark_schema([nested])
    with pytest.raises(UserError, match="column 'rg' has type RANGE"):
        mapped(SchemaField("rg", "RANGE"))

    big = pa.array([Decimal("12.34500"), None], pa.decimal256(76, 38))
    assert conform_array(big, pa.decimal128(20, 5)).to_pylist() == [Decimal("12.34500"), None]
    with pytest.raises(pa.ArrowInvalid, match="data loss"):  # never silently rounded
        conform_array(big, pa.decimal128(20, 2))
    # Avro: BigQuery sends DATETIME as ISO text (bqemulator as a timestamp, tested above)
    to_datetime = avro_converter(pa.timestamp("us"))
    assert to_datetime is not None
    assert to_datetime("2020-01-01T10:00:00.500000") == dt.datetime(2020, 1, 1, 10, 0, 0, 500000)


# ---------------------------------------------------------------------------- reading
def test_features_and_passthrough_only_and_filter(spark, bq_tables: str) -> None:
    source = _source(features=["f", "d"], passthrough=["id"], options={"filter": "id >= 2"})
    frame, rows = _rows(spark, source)
    assert frame.columns == ["id", "f", "d"]
    assert [row.id for row in rows] == [2, 3]


def test_a_filter_matching_nothing_gives_an_empty_frame_with_the_schema(spark, bq_tables) -> None:
    frame, rows = _rows(spark, _source(features=["f", "d"], options={"filter": "id < 0"}))
    assert rows == [] and _types(frame) == {"f": "double", "d": "date"}


def test_dataset_dot_table_uses_parent_project(spark, bq_tables: str) -> None:
    source = _source(
        table=f"{DATASET}.all_types", features=["f"], options={"parentProject": EMULATOR_PROJECT}
    )
    _, rows = _rows(spark, source)
    assert len(rows) == 3
    colon = _source(table=f"{EMULATOR_PROJECT}:{DATASET}.all_types", features=["f"])
    assert len(_rows(spark, colon)[1]) == 3


def _id_summary(frame: Any) -> tuple[int, int, int, int]:
    from pyspark.sql import functions as F

    row = frame.agg(F.count("id"), F.count_distinct("id"), F.min("id"), F.max("id")).first()
    return tuple(row)  # type: ignore[return-value]


def test_one_spark_partition_per_read_stream(spark, bq_tables: str) -> None:
    """bqemulator splits a session of a table over 1 MB into ``max_stream_count`` streams (one
    when asked for none): maxParallelism 3 gives three streams, three partitions, each read
    by its own task, every row once."""
    from pyspark.sql import functions as F

    for options, partitions in (({}, 1), ({"maxParallelism": "3"}, 3)):
        reader = BigQueryTableSource(_source(table=MANY_TABLE, options=options))
        try:
            frame = reader.read(spark)
            assert frame.rdd.getNumPartitions() == partitions
        finally:
            reader.close()
    per_task = frame.groupBy(F.spark_partition_id()).count().collect()
    assert len(per_task) == 3 and sum(row["count"] for row in per_task) == MANY
    assert _id_summary(frame) == (MANY, MANY, 1, MANY)


def test_read_session_request_carries_the_options(spark, bq_tables, monkeypatch) -> None:
    """What the driver asks of the Storage Read API, as recorded by a proxy (the emulator
    ignores the billing project and the preferred minimum)."""
    from google.cloud.bigquery_storage_v1 import types

    proxy = GrpcFaultProxy(os.environ["BIGQUERY_STORAGE_EMULATOR_HOST"]).start()
    monkeypatch.setenv("BIGQUERY_STORAGE_EMULATOR_HOST", proxy.address)
    try:
        options = {
            "parentProject": "billing-project", "maxParallelism": "4",
            "preferredMinParallelism": "2", "readDataFormat": "AVRO", "filter": "id > 1",
        }  # fmt: skip
        frame, _ = _rows(spark, _source(table=MANY_TABLE, features=["x"], options=options))
        _rows(spark, _source(table=MANY_TABLE, options={"maxParallelism": "5"}))
    finally:
        proxy.stop()
    assert frame.columns == ["x"]
    sessions = [
        types.CreateReadSessionRequest.deserialize(raw)
        for method, raw in proxy.requests
        if method.endswith("/CreateReadSession")
    ]
    first, second = sessions
    assert first.parent == "projects/billing-project"
    assert first.read_session.table == (
        f"projects/{EMULATOR_PROJECT}/datasets/{DATASET}/tables/many"
    )
    assert (first.max_stream_count, first.preferred_min_stream_count) == (4, 2)
    assert list(first.read_session.read_options.selected_fields) == ["x"]
    assert first.read_session.read_options.row_restriction == "id > 1"
    assert first.read_session.data_format == types.DataFormat.AVRO
    # defaults: billed to the default project; preferred minimum = min(3 × 2 cores, max)
    assert second.parent == f"projects/{EMULATOR_PROJECT}"
    assert (second.max_stream_count, second.preferred_min_stream_count) == (5, 5)
    assert second.read_session.data_format == types.DataFormat.ARROW
    streams = [
        stream.name
        for method, raw in proxy.responses
        if method.endswith("/CreateReadSession")
        for stream in types.ReadSession.deserialize(raw).streams
    ]
    read = [
        types.ReadRowsRequest.deserialize(raw).read_stream
        for method, raw in proxy.requests
        if method.endswith("/ReadRows")
    ]
    assert len(streams) >= 1 + 5 and sorted(read) == sorted(streams)  # each read once


# ------------------------------------------------------------------------------- views
def test_view_needs_views_enabled(spark, bq_tables: str) -> None:
    with pytest.raises(UserError, match=r"bigquerySource.table: .*big_ids is a view.*viewsEnabled"):
        _rows(spark, _source(table=VIEW))


@pytest.mark.parametrize("dataset", [None, SCRATCH])
@pytest.mark.spark35
def test_view_is_materialized_read_and_dropped(spark, bq_tables: str, dataset) -> None:
    options = {"viewsEnabled": "true", "filter": "f IS NOT NULL"}
    if dataset:
        options["viewMaterializationDataset"] = dataset
    reader = BigQueryTableSource(
        _source(table=VIEW, features=["f"], passthrough=["id"], options=options)
    )
    try:
        rows = sorted(reader.read(spark).collect())
        temporary = reader._temporary_table
        assert temporary is not None and table_exists(str(temporary))
        assert temporary.dataset == (dataset or DATASET)
    finally:
        reader.close()
    assert [(row.id, row.f) for row in rows] == [(3, 3.5)]
    assert not table_exists(str(temporary))


def test_view_temporary_table_is_dropped_when_the_job_fails(spark, bq_tables, tmp_path) -> None:
    model = save_probe_model(tmp_path / "model", "fail_if_negative")
    spec = parse_spec_text(
        f"""
bigquerySource:
  table: {NEGATIVE_VIEW}
  features: [g]
  options: {{engine: storage-api, viewsEnabled: true, viewMaterializationDataset: {SCRATCH}}}
model: {{uri: {model}}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
"""
    )
    with pytest.raises(Exception, match="negative feature value"):
        run_job(spark, spec, "bq_view_fails", "run1")
    materializations = [
        job.query
        for job in bq_client().list_jobs(max_results=20)
        if job.job_type == "query" and f"{SCRATCH}._spark_job_negative_" in job.query
    ]
    assert materializations  # the view was materialized into the scratch dataset...
    assert _tables(SCRATCH) == []  # ...and its table is gone although the job failed


# ------------------------------------------------------------------------------ errors
def test_user_errors(spark, bq_tables: str) -> None:
    with pytest.raises(UserError, match=r"bigquerySource.table: table or view .*nope not found"):
        _rows(spark, _source(table=f"{EMULATOR_PROJECT}.{DATASET}.nope"))
    with pytest.raises(UserError) as raised:
        _rows(spark, _source(features=["f", "missing"]))
    assert (
        f"bigquerySource.features: column 'missing' does not exist in table {TYPES_TABLE}."
        in str(raised.value)
    )
    assert "Columns: id, f, n," in str(raised.value)
    with pytest.raises(UserError, match="passthrough: column 'idd' .* Did you mean 'id'"):
        _rows(spark, _source(features=["f"], passthrough=["idd"]))
    with pytest.raises(UserError, match="bigquerySource.table: 'a.b.c.d' is not a BigQuery table"):
        BigQueryTableSource(_source(table="a.b.c.d"))
    with pytest.raises(UserError, match="bigquerySource.options.table: name the table in"):
        BigQueryTableSource(_source(options={"table": "p.d.t"}))
    bad_options = {
        "engine": "bigquerySource.options.engine: 'jar' is not one of auto, connector",
        "readDataFormat": "bigquerySource.options.readDataFormat: 'CSV' is not one of ARROW",
        "maxParallelism": "bigquerySource.options.maxParallelism: expected a positive integer",
        "viewsEnabled": "bigquerySource.options.viewsEnabled: expected true or false",
        "bigNumericDefaultPrecision": "bigquerySource.options.bigNumericDefaultPrecision: "
        "expected an integer 1–38",
    }
    values = {"engine": "jar", "readDataFormat": "CSV", "bigNumericDefaultPrecision": "50"}
    for key, message in bad_options.items():
        with pytest.raises(UserError) as raised:
            _rows(spark, _source(options={key: values.get(key, "many")}))
        assert message in str(raised.value)


def test_transient_errors_are_retried(spark, bq_tables: str, monkeypatch) -> None:
    """503 then 403 rateLimitExceeded (BigQuery's rate limits that are not 429) on the first
    table lookups (REST), UNAVAILABLE on the first CreateReadSession and on the first ReadRows
    of each stream (gRPC, before any row): the read still returns every row exactly once."""
    limited = Fault("GET", "/tables/many", 403, "Exceeded rate limits", "rateLimitExceeded")
    rest = HttpFaultProxy(
        os.environ["BIGQUERY_EMULATOR_HOST"], faults=[Fault("GET", "/tables/many", 503), limited]
    ).start()
    unavailable = grpc.StatusCode.UNAVAILABLE
    read = GrpcFaultProxy(
        os.environ["BIGQUERY_STORAGE_EMULATOR_HOST"],
        faults=[
            Fault("CreateReadSession", "", unavailable),
            Fault("ReadRows", "", unavailable, times=2),
        ],
    ).start()
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", rest.address)
    monkeypatch.setenv("BIGQUERY_STORAGE_EMULATOR_HOST", read.address)
    try:
        reader = BigQueryTableSource(_source(table=MANY_TABLE, options={"maxParallelism": "2"}))
        summary = _id_summary(reader.read(spark))
    finally:
        rest.stop()
        read.stop()
    assert summary == (MANY, MANY, 1, MANY)
    assert [status for _, path, status in rest.log if "/tables/many" in path][:3] == [503, 403, 200]
    assert [m.rsplit("/", 1)[1] for m in read.failed] == ["CreateReadSession", *["ReadRows"] * 2]


def test_permission_denied_names_the_table(spark, bq_tables: str, monkeypatch) -> None:
    """bqemulator has no IAM: the proxy answers the table lookup as BigQuery does a caller
    without bigquery.tables.get (HTTP 403)."""
    denied = "Access Denied: Table test-project:source_tests.counted: Permission denied"
    rest = HttpFaultProxy(
        os.environ["BIGQUERY_EMULATOR_HOST"],
        faults=[Fault("GET", "/tables/counted", 403, message=denied)],
    ).start()
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", rest.address)
    try:
        with pytest.raises(UserError) as raised:
            _rows(spark, _source(table=COUNTED_TABLE))
    finally:
        rest.stop()
    assert str(raised.value).startswith(
        f"bigquerySource.table: permission denied reading {COUNTED_TABLE}: Access Denied"
    )


# --------------------------------------------------------------------- row estimate
def test_a_read_session_estimates_the_rows_for_progress(spark, bq_tables: str) -> None:
    reader = BigQueryTableSource(_source(table=COUNTED_TABLE))
    reader.read(spark)
    assert reader.estimated_rows == 10  # progress/ETA: bqemulator's session estimate is 0


# ----------------------------------------------------------------------------- engines
@pytest.fixture
def no_bigquery_stand_in(spark: Any) -> Iterator[None]:
    """Unregisters any Python data source named "bigquery" (tests, this file's and the sink's,
    register one to stand in for the connector jar; Spark offers no way to unregister, so this
    reaches into its registry), so that Spark looks the name up as it would in a real job."""

    def unregister() -> None:
        manager = spark._jsparkSession.sessionState().dataSourceManager()
        manager.runtimeDataSourceBuilders().remove("bigquery")

    unregister()
    yield
    unregister()


def test_auto_engine_is_storage_api_without_the_connector_jar(
    spark, bq_tables, caplog, no_bigquery_stand_in
) -> None:
    assert jvm_data_source_available(spark, "parquet")  # the lookup finds what is there...
    assert not jvm_data_source_available(spark, "bigquery")  # ...and no connector jar here
    source = _source(features=["f"], options={"engine": "auto", "credentialsFile": "/k.json"})
    with caplog.at_level(logging.INFO):
        _, rows = _rows(spark, source)
    assert len(rows) == 3
    assert "bigquerySource: BigQuery engine storage-api (auto)" in caplog.text
    assert "not used by the storage-api engine: ['credentialsFile']" in caplog.text


def test_connector_engine_hands_format_table_and_options_to_sparks_reader(
    spark, bq_tables, no_bigquery_stand_in
) -> None:
    """The spark-bigquery connector for Spark 4 is not served here (tests/connector runs the
    real one on the 3.5 line), so on this line the test stops where Spark hands over to it: it
    inspects the JVM DataFrameReader the engine builds (its format and options are exactly what
    the connector receives), then lets Spark's load() of an existing table fail to find the
    connector, which is a user error, not a Java traceback."""
    options = {
        "engine": "connector", "parentProject": "billing", "maxParallelism": "8",
        "viewsEnabled": "true", "filter": "id > 1", "readDataFormat": "AVRO",
    }  # fmt: skip
    source = BigQueryTableSource(_source(table="p:d.t", features=["f"], options=options))
    jreader = source.connector_reader(spark)._jreader  # type: ignore[attr-defined]
    assert jreader.source() == "bigquery"
    handed = spark.sparkContext._jvm.scala.jdk.javaapi.CollectionConverters.asJava(
        jreader.extraOptions().originalMap()
    )
    assert dict(handed) == {
        "table": "p.d.t", "parentProject": "billing", "maxParallelism": "8",
        "viewsEnabled": "true", "filter": "id > 1", "readDataFormat": "AVRO",
    }  # fmt: skip
    existing = BigQueryTableSource(_source(features=["f"], options=options))
    with pytest.raises(UserError) as raised:
        existing.read(spark)
    assert str(raised.value).startswith(
        "bigquerySource.options.engine: connector, but Spark has no spark-bigquery connector"
    )


def test_connector_engine_result_is_narrowed_to_passthrough_and_features(
    spark, bq_tables, no_bigquery_stand_in
) -> None:
    """A Python data source registered under the connector's name stands in for the jar (see
    above) so that read() can run to the end: the connector's frame is narrowed to
    passthrough + features, in that order."""
    from pyspark.sql.datasource import DataSource, DataSourceReader

    class Reader(DataSourceReader):
        def read(self, partition: Any) -> Iterator[tuple[Any, ...]]:
            yield ("x", 1, 2.0, "unused")

    class ConnectorStandIn(DataSource):
        @classmethod
        def name(cls) -> str:
            return "bigquery"

        def schema(self) -> str:
            return "s string, id long, f double, other string"

        def reader(self, schema: Any) -> DataSourceReader:
            return Reader()

    spark.dataSource.register(ConnectorStandIn)
    source = _source(features=["f"], passthrough=["id"])  # a table that exists
    source.options["engine"] = "connector"
    frame, rows = _rows(spark, source)
    assert frame.columns == ["id", "f"] and [tuple(r) for r in rows] == [(1, 2.0)]
    assert not jvm_data_source_available(spark, "bigquery")  # a stand-in is no connector


# ----------------------------------------------------------------------------- jobs
def test_date_feature_reaches_the_model_as_datetime(spark, bq_tables: str, tmp_path: Path) -> None:
    model = save_probe_model(tmp_path / "model", "year")
    out = tmp_path / "out"
    spec = parse_spec_text(
        f"""
bigquerySource:
  table: {TYPES_TABLE}
  features: [d]
  passthrough: [id]
  options: {{engine: storage-api, filter: "d IS NOT NULL"}}
model: {{uri: {model}, result: {{type: INTEGER}}}}
gcsSink: {{format: PARQUET, uri: {out}}}
"""
    )
    result = run_job(spark, spec, "bq_dates", "run1")
    assert result.rows_written == 2
    got = pd.read_parquet(out).sort_values("id")
    assert got["prediction"].tolist() == [2020, 1999]


@pytest.mark.spark35
def test_cli_bigquery_table_to_local_parquet(bq_tables: str, tmp_path: Path) -> None:
    model = save_probe_model(tmp_path / "model", "sum")
    out = tmp_path / "out"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"""
kind: PredictionJob
bigquerySource:
  table: "{EMULATOR_PROJECT}:{DATASET}.all_types"
  features: [f, id]
  passthrough: [s]
  options: {{filter: "f IS NOT NULL"}}
model: {{type: PYFUNC_V2, uri: {model}}}
gcsSink: {{format: PARQUET, uri: {out}, save_mode: OVERWRITE}}
"""
    )
    log_file = tmp_path / "job.log"
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "--job-name", "bq_cli", "--spec-path", str(spec),
         "--local", "--log-file", str(log_file)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "instances: 2 succeeded, 0 failed; rows written: 2" in proc.stdout
    # auto: the connector where its jar is served (the 3.5 line), else the storage-api engine
    jar = any(re.fullmatch(r"spark-[\d.]+-bigquery-.*\.jar", p.name) for p in local_jars())
    assert f"BigQuery engine {'connector' if jar else 'storage-api'} (auto)" in log_file.read_text()
    got = pd.read_parquet(out).sort_values("s")
    assert got.columns.tolist() == ["s", "f", "id", "prediction"]
    assert got["prediction"].tolist() == [2.5, 6.5]


@pytest.mark.spark35
def test_scoring_tasks_read_the_streams_themselves(spark, bq_tables, tmp_path, caplog) -> None:
    """The storage-api engine's streams are read inside the scoring tasks, one task per stream
    (no JVM rows between the stream and the model): every row scored once; a frame changed
    after ``read`` (e.g. cast for the model) is read by Spark instead."""
    reader = BigQueryTableSource(
        _source(table=MANY_TABLE, features=["x"], passthrough=["id"],
                options={"maxParallelism": "3"})
    )  # fmt: skip
    try:
        frame = reader.read(spark)
        assert reader.task_input(frame.select("id", "x"), 1000) is None
        task_input = reader.task_input(frame, 1000)
        assert task_input is not None and task_input.tasks == 3
        read = task_input.frame(spark).mapInArrow(task_input.read, frame.schema)
        assert read.schema == frame.schema
        assert _id_summary(read) == (MANY, MANY, 1, MANY)
    finally:
        reader.close()

    model = save_probe_model(tmp_path / "model", "sum")
    out = tmp_path / "out"
    spec = parse_spec_text(
        f"""
bigquerySource:
  table: {MANY_TABLE}
  features: [x]
  passthrough: [id]
  options: {{engine: storage-api, maxParallelism: "3"}}
model: {{uri: {model}, result: {{type: DOUBLE}}}}
gcsSink: {{format: PARQUET, uri: {out}}}
"""
    )
    with caplog.at_level(logging.INFO, logger="spark_job.sources.bigquery"):
        result = run_job(spark, spec, "bq_stream_tasks", "run1")
    assert "3 read stream(s) read by the scoring tasks" in caplog.text
    assert result.rows_written == MANY
    got = pd.read_parquet(out)
    assert len(got) == MANY and got["id"].is_unique
    assert (got["prediction"] == got["id"] / 2).all()
