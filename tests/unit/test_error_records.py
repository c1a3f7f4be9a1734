"""Error records without Spark: the record, the task's side file, which files are published,
the file reader's records of unusable lines, and the BigQuery errors table's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from spark_job.bigquery.errors_table import errors_table_id, records_schema
from spark_job.bigquery.table_id import TableId
from spark_job.errors import UserError
from spark_job.scoring.error_records import (
    ErrorRecords,
    RecordsTarget,
    publication,
    published_files,
    raw_key,
    record_line,
)
from spark_job.scoring.row_errors import (
    MODEL_ERROR,
    ORIGIN_FILE,
    ORIGIN_LINE,
    TaskErrors,
    TaskPolicy,
)
from spark_job.sources.file_reader import ReadPlan, read_files
from spark_job.spec import FileFormat, FileReadOptions


class Names:
    """Stands in for the Spark accumulator of side-file names."""

    def __init__(self) -> None:
        self.value: list[str] = []

    def add(self, names: list[str]) -> None:
        self.value.extend(names)


def _records(directory: Path) -> tuple[ErrorRecords, Names]:
    names = Names()
    return ErrorRecords(RecordsTarget(str(directory)), names), names  # type: ignore[arg-type]


def _read(directory: Path, names: Names) -> list[dict[str, Any]]:
    return [json.loads(line) for name in names.value for line in (directory / name).open()]


def test_record_line_is_vertex_style_and_encoded_like_results() -> None:
    import datetime as dt

    line = record_line({"key": "a", "day": dt.date(2024, 1, 3), "x": float("nan")}, "X", "m")
    assert json.loads(line) == {
        "instance": {"key": "a", "day": "2024-01-03", "x": None},
        "error": {"code": "X", "message": "m"},
    }


def test_raw_key_avoids_input_columns() -> None:
    assert raw_key(["a", "b"]) == "raw"
    assert raw_key(["raw", "_raw"]) == "__raw"


def test_one_side_file_per_task_with_instances_and_messages(tmp_path: Path) -> None:
    records, names = _records(tmp_path)
    errors = TaskErrors(None, records)
    errors.instances = pa.record_batch(
        {"key": ["a", "b"], "x": [1.0, -2.0], ORIGIN_FILE: [0, 0], ORIGIN_LINE: [1, 2]}
    )
    errors.record(MODEL_ERROR, "in.json", 2, "ValueError: no", errors.instance(1), " (note)")
    errors.record(MODEL_ERROR, None, None, "ValueError: again", errors.instance(0))
    assert errors.stats[MODEL_ERROR]["examples"][0]["message"] == "ValueError: no (note)"
    assert names.value == []  # nothing is put before the task ends
    errors.close()
    assert len(names.value) == 1 and names.value[0].startswith("errors-")
    assert _read(tmp_path, names) == [
        {
            "instance": {"key": "b", "x": -2.0},  # origin columns left out
            "error": {"code": MODEL_ERROR, "message": "in.json line 2: ValueError: no"},
        },
        {
            "instance": {"key": "a", "x": 1.0},
            "error": {"code": MODEL_ERROR, "message": "ValueError: again"},
        },
    ]


def test_no_record_no_side_file(tmp_path: Path) -> None:
    records, names = _records(tmp_path)
    TaskErrors(None, records).close()
    assert names.value == [] and list(tmp_path.iterdir()) == []
    counting = TaskErrors(None)  # FAIL_FAST, or a sink that keeps no records
    assert not counting.recording and counting.instance(0) is None


def test_published_files_keep_one_per_stage_and_partition() -> None:
    names = [
        "errors-3-00001-1-bbbbbbbb.json",  # a twin (a stage run again): dropped
        "errors-3-00001-0-aaaaaaaa.json",
        "errors-3-00000-0-cccccccc.json",
        "errors-5-00001-0-dddddddd.json",  # another stage (the scorer after a shuffle)
        "errors-eeeeeeee.json",  # outside a Spark task
    ]
    assert published_files(names) == [
        "errors-3-00000-0-cccccccc.json",
        "errors-3-00001-0-aaaaaaaa.json",
        "errors-5-00001-0-dddddddd.json",
        "errors-eeeeeeee.json",
    ]
    assert publication(["a", "b"]) == [
        ("a", "prediction.errors-00000-of-00002"),
        ("b", "prediction.errors-00001-of-00002"),
    ]


def _plan(fmt: FileFormat, uri: Path, schema: pa.Schema, records: ErrorRecords) -> ReadPlan:
    policy = TaskPolicy(True, None, "gcsSource", [str(uri)], records)
    return ReadPlan(fmt, [str(uri)], schema, FileReadOptions(), policy)


def test_file_reader_records_unusable_lines_with_their_text(tmp_path: Path) -> None:
    records, names = _records(tmp_path)
    source = tmp_path / "in.json"
    source.write_text('{"raw": 1, "x": 1.0}\n{"raw": 2, "x": \n{"raw": 3, "x": "three"}\n')
    schema = pa.schema([("raw", pa.int64()), ("x", pa.float64())])
    rows = sum(b.num_rows for b in read_files(_plan(FileFormat.JSON, source, schema, records), [0]))
    assert rows == 1
    found = _read(tmp_path, names)
    assert [r["instance"] for r in found] == [
        {"_raw": '{"raw": 2, "x": '},  # the line as read; ``raw`` is a column here
        {"_raw": '{"raw":3,"x":"three"}'},  # decoded, then found of the wrong type
    ]
    assert [r["error"]["code"] for r in found] == ["UNPARSEABLE", "WRONG_TYPE"]
    assert found[0]["error"]["message"].startswith(f"{source} line 2: not valid JSON")
    assert found[1]["error"]["message"] == (
        f"{source} line 3: column 'x': expected a number, got \"three\""
    )


def test_csv_row_of_the_wrong_width_is_recorded_rejoined(tmp_path: Path) -> None:
    records, names = _records(tmp_path)
    source = tmp_path / "in.csv"
    source.write_text("id,x\n1,1.0\n2,2.0,extra\n")
    schema = pa.schema([("id", pa.string()), ("x", pa.string())])
    list(read_files(_plan(FileFormat.CSV, source, schema, records), [0]))
    (found,) = _read(tmp_path, names)
    assert found["instance"] == {"raw": "2,2.0,extra"}
    assert found["error"]["message"] == f"{source} line 3: has 3 fields but the header has 2"


def test_errors_table_schema_and_name() -> None:
    source = StructType(
        [
            StructField("key", StringType()),
            StructField("x", DoubleType()),
            StructField("day", DateType()),
            StructField("tags", ArrayType(LongType())),
            StructField(ORIGIN_FILE, IntegerType()),
            StructField(ORIGIN_LINE, LongType()),
        ]
    )
    instance, error = records_schema(source)
    assert (instance.name, instance.field_type, error.name) == ("instance", "RECORD", "error")
    assert [(f.name, f.field_type, f.mode) for f in instance.fields] == [
        ("key", "STRING", "NULLABLE"),
        ("x", "FLOAT64", "NULLABLE"),
        ("day", "DATE", "NULLABLE"),
        ("tags", "INT64", "REPEATED"),
        ("raw", "STRING", "NULLABLE"),  # a file input: lines the reader could not use
    ]
    assert [f.name for f in error.fields] == ["code", "message"]
    (no_raw, _error) = records_schema(StructType(source.fields[:2]))  # e.g. a BigQuery input
    assert [f.name for f in no_raw.fields] == ["key", "x"]

    table = TableId("p", "d", "scored")
    assert errors_table_id(table, None, "f", None) == TableId("p", "d", "scored_errors")
    assert errors_table_id(table, "other.errs", "f", None) == TableId("p", "other", "errs")
    assert errors_table_id(table, "q:e.t", "f", None) == TableId("q", "e", "t")
    with pytest.raises(UserError, match="bigquerySink.errorsTable: 'bad' is not a BigQuery"):
        errors_table_id(table, "bad", "bigquerySink.errorsTable", None)
