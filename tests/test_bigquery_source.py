"""The BigQuery source against a real BigQuery emulator (bqemulator), both engines."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud.bigquery import SchemaField

from spark_job.errors import UserError
from spark_job.runner import run_job
from spark_job.sources.bigquery import BigQueryTableSource
from spark_job.spec import BigQuerySource, parse_spec_text
from tests.bq_helpers import create_dataset, create_table, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.models import save_probe_model

DATASET = "source_tests"
TYPES_TABLE = f"{EMULATOR_PROJECT}.{DATASET}.all_types"


@pytest.fixture(scope="module")
def bq_tables(emulators: Any) -> str:
    create_dataset(DATASET)
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
    run_sql(
        f"CREATE VIEW `{EMULATOR_PROJECT}.{DATASET}.big_ids` AS "
        f"SELECT id, f, d FROM `{TYPES_TABLE}` WHERE id > 1"
    )
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


EXPECTED_TYPES = {
    "id": "bigint", "f": "double", "n": "decimal(38,9)", "b": "boolean", "s": "string",
    "bt": "binary", "d": "date", "dtm": "timestamp_ntz", "ts": "timestamp", "t": "bigint",
    "a": "array<bigint>", "st": "struct<x:bigint,y:string>", "j": "string",
}  # fmt: skip


@pytest.mark.parametrize("data_format", ["ARROW", "AVRO"])
def test_every_type_maps_like_the_connector(spark, bq_tables: str, data_format: str) -> None:
    source = _source(options={"readDataFormat": data_format})
    frame, rows = _rows(spark, source)
    assert {f.name: f.dataType.simpleString() for f in frame.schema.fields} == EXPECTED_TYPES
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


def test_features_and_passthrough_only_and_filter(spark, bq_tables: str) -> None:
    source = _source(features=["f", "d"], passthrough=["id"], options={"filter": "id >= 2"})
    frame, rows = _rows(spark, source)
    assert frame.columns == ["id", "f", "d"]
    assert [row.id for row in rows] == [2, 3]


def test_dataset_dot_table_uses_parent_project(spark, bq_tables: str) -> None:
    source = _source(
        table=f"{DATASET}.all_types", features=["f"], options={"parentProject": EMULATOR_PROJECT}
    )
    _, rows = _rows(spark, source)
    assert len(rows) == 3
    colon = _source(table=f"{EMULATOR_PROJECT}:{DATASET}.all_types", features=["f"])
    assert len(_rows(spark, colon)[1]) == 3


def test_view_needs_views_enabled(spark, bq_tables: str) -> None:
    view = f"{EMULATOR_PROJECT}.{DATASET}.big_ids"
    with pytest.raises(UserError, match=r"bigquerySource.table: .*big_ids is a view.*viewsEnabled"):
        _rows(spark, _source(table=view))


def test_view_is_materialized_read_and_dropped(spark, bq_tables: str) -> None:
    view = f"{EMULATOR_PROJECT}.{DATASET}.big_ids"
    reader = BigQueryTableSource(
        _source(table=view, features=["f"], passthrough=["id"], options={"viewsEnabled": "true"})
    )
    try:
        rows = sorted(reader.read(spark).collect())
        temporary = reader._temporary_table
        assert temporary is not None and table_exists(str(temporary))
    finally:
        reader.close()
    assert [(row.id, row.f) for row in rows] == [(2, None), (3, 3.5)]
    assert not table_exists(str(temporary))


def test_user_errors(spark, bq_tables: str) -> None:
    with pytest.raises(UserError, match=r"bigquerySource.table: table or view .*nope not found"):
        _rows(spark, _source(table=f"{EMULATOR_PROJECT}.{DATASET}.nope"))
    with pytest.raises(UserError) as raised:
        _rows(spark, _source(features=["f", "missing"]))
    assert "bigquerySource.features: column 'missing' does not exist" in str(raised.value)
    assert "Columns: id, f, n," in str(raised.value)
    with pytest.raises(UserError, match="bigquerySource.table: 'a.b.c.d' is not a BigQuery table"):
        BigQueryTableSource(_source(table="a.b.c.d"))
    with pytest.raises(UserError, match="bigquerySource.options.engine: 'jar' is not one of"):
        _rows(spark, _source(options={"engine": "jar"}))
    with pytest.raises(UserError, match="bigquerySource.options.readDataFormat: 'CSV'"):
        _rows(spark, _source(options={"readDataFormat": "CSV"}))


def test_connector_engine_hands_table_and_options_to_sparks_reader(spark, bq_tables: str) -> None:
    """The spark-bigquery connector jar cannot be downloaded here (no Maven), so a Python data
    source registered under the connector's name "bigquery" stands in for it and returns the
    options Spark handed it as data. What the real connector does with them is its own business.
    """
    from pyspark.sql.datasource import DataSource, DataSourceReader

    class Reader(DataSourceReader):
        def __init__(self, options: dict[str, str]) -> None:
            self.options = options

        def read(self, partition: Any) -> Iterator[tuple[Any, ...]]:
            yield (1, 2.0, json.dumps(self.options, sort_keys=True))

    class ConnectorStandIn(DataSource):
        @classmethod
        def name(cls) -> str:
            return "bigquery"

        def schema(self) -> str:
            return "id long, f double, handed_options string"

        def reader(self, schema: Any) -> DataSourceReader:
            return Reader({key.lower(): value for key, value in self.options.items()})

    spark.dataSource.register(ConnectorStandIn)
    options = {
        "engine": "connector",
        "parentProject": "billing",
        "maxParallelism": "8",
        "viewsEnabled": "true",
        "filter": "id > 1",
        "readDataFormat": "AVRO",
    }
    source = _source(table="p:d.t", features=["f"], passthrough=["id"], options=options)
    frame, rows = _rows(spark, source)
    assert frame.columns == ["id", "f"] and rows[0].f == 2.0
    handed = BigQueryTableSource(source)._read_with_connector(spark).collect()[0].handed_options
    assert json.loads(handed) == {
        "table": "p.d.t", "parentproject": "billing", "maxparallelism": "8",
        "viewsenabled": "true", "filter": "id > 1", "readdataformat": "AVRO",
    }  # fmt: skip


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
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "--job-name", "bq_cli", "--spec-path", str(spec),
         "--local"],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows in: 2, rows out: 2" in proc.stdout
    got = pd.read_parquet(out).sort_values("s")
    assert got.columns.tolist() == ["s", "f", "id", "prediction"]
    assert got["prediction"].tolist() == [2.5, 6.5]
