"""Fast tests of the pure pieces, no SparkSession: record formats, TFRecord, Avro types, file
encoders and result conversion. ``make test`` runs them first."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import fastavro
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_job.formats import avro_types, tfrecord
from spark_job.formats.file_encoders import json_line, write_file
from spark_job.formats.record_formats import UNPARSEABLE, Problem, csv_dialect, iter_items
from spark_job.scoring.results import ModelOutputError, to_result_series
from spark_job.spec import FileFormat, ModelResult, ResultType
from tests.gcs_helpers import example, tfrecords


def test_tfrecord_records_and_crc_errors() -> None:
    records = [example({"x": [1.5]}), example({"x": [2.5]}), example({"x": [3.5]})]
    got = list(tfrecord.iter_records(io.BytesIO(tfrecords(records, corrupt={1}))))
    assert got[0] == records[0] and got[2] == records[2]
    assert isinstance(got[1], tfrecord.RecordError) and not got[1].fatal
    cut = list(tfrecord.iter_records(io.BytesIO(tfrecords(records)[:-3])))
    assert isinstance(cut[-1], tfrecord.RecordError) and cut[-1].fatal


def test_tfrecord_example_features() -> None:
    parsed = tfrecord.parse_example(example({"x": [1.5, 2.0], "n": [3], "s": [b"a"]}))
    assert parsed["x"] == ("float", [1.5, 2.0])
    assert parsed["n"] == ("int64", [3])
    assert parsed["s"] == ("bytes", [b"a"])


def test_json_lines_isolate_a_bad_line() -> None:
    data = b'{"x": 1}\n{oops\n\n{"x": 2}\n'
    items = list(iter_items(FileFormat.JSON, io.BytesIO(data), {}))
    assert [(n, v) for n, v in items if not isinstance(v, Problem)] == [
        (1, {"x": 1}),
        (4, {"x": 2}),
    ]
    (bad,) = [(n, v) for n, v in items if isinstance(v, Problem)]
    assert bad[0] == 2 and bad[1].kind == UNPARSEABLE and "not valid JSON" in bad[1].message


def test_csv_rows_with_the_wrong_field_count_are_problems() -> None:
    dialect = csv_dialect({"header": "true", "delimiter": ";"})
    assert dialect.header and dialect.sep == ";"
    items = list(iter_items(FileFormat.CSV, io.BytesIO(b"a,b\n1,2\n3\n"), {"header": "true"}))
    problems = [v for _, v in items if isinstance(v, Problem)]
    assert len(problems) == 1 and "has 1 fields but the header has 2" in problems[0].message


def test_avro_schema_round_trips_through_arrow_types() -> None:
    schema = pa.schema([
        pa.field("id", pa.int64()), pa.field("x", pa.float64()), pa.field("day", pa.date32()),
        pa.field("tags", pa.list_(pa.int64())), pa.field("name", pa.string()),
    ])  # fmt: skip
    avro = avro_types.avro_schema(schema)
    fastavro.parse_schema(avro)  # a valid Avro schema
    back = avro_types.arrow_schema(avro)
    assert back.names == schema.names
    assert back.field("day").type == pa.date32()
    assert back.field("tags").type.value_type == pa.int64()


@pytest.mark.parametrize(
    "fmt", [FileFormat.JSON, FileFormat.CSV, FileFormat.PARQUET, FileFormat.AVRO]
)
def test_file_encoders_write_every_row(fmt: FileFormat, tmp_path: Path) -> None:
    batch = pa.record_batch(
        {"id": [1, 2], "day": [dt.date(2024, 1, 2), None], "p": [0.5, float("nan")]}
    )
    path = tmp_path / f"out.{fmt.value.lower()}"
    assert write_file(fmt, iter([batch]), batch.schema, str(path), {}) == 2
    if fmt is FileFormat.JSON:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows == [{"id": 1, "day": "2024-01-02", "p": 0.5}, {"id": 2, "day": None, "p": None}]
    elif fmt is FileFormat.CSV:
        assert path.read_text().splitlines()[0].replace('"', "") == "id,day,p"
    elif fmt is FileFormat.PARQUET:
        assert pq.read_table(path).column("id").to_pylist() == [1, 2]
    else:
        with path.open("rb") as handle:
            assert [r["id"] for r in fastavro.reader(handle)] == [1, 2]


def test_json_line_is_one_line_with_iso_dates() -> None:
    line = json_line({"at": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.timezone.utc), "s": "a\nb"})
    assert "\n" not in line and json.loads(line)["s"] == "a\nb"


def test_result_conversion_to_the_declared_type() -> None:
    doubles = to_result_series(np.array([1, 2]), ModelResult(ResultType.DOUBLE), 2)
    assert doubles.tolist() == [1.0, 2.0]
    arrays = to_result_series(
        [[1, 2], [3]], ModelResult(ResultType.ARRAY, item_type=ResultType.LONG), 2
    )
    assert arrays.tolist() == [[1, 2], [3]]
    strings = to_result_series(pd.Series(["a", "b"]), ModelResult(ResultType.STRING), 2)
    assert strings.tolist() == ["a", "b"]
    with pytest.raises(ModelOutputError, match="3 predictions for 2 rows"):
        to_result_series(np.array([1.0, 2.0, 3.0]), ModelResult(ResultType.DOUBLE), 2)
    with pytest.raises(ModelOutputError, match="model.result.type"):
        to_result_series(np.array(["x", "y"]), ModelResult(ResultType.LONG), 2)
