"""Parquet read by the scoring tasks (no Spark): every row read by exactly one task, with its
file and row number, whatever the row groups, the split size and the number of cores."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_job.scoring.row_errors import ORIGIN_FILE, ORIGIN_LINE, BadInputError
from spark_job.sources.parquet_fragments import (
    MIN_SPLIT_BYTES,
    footer_schema,
    plain_arrow,
    plan_fragments,
    task_read,
)
from spark_job.storage.input_files import InputFile


def _files(tmp_path: Path, rows: list[int], row_group: int) -> list[InputFile]:
    files = []
    start = 0
    for index, count in enumerate(rows):
        path = tmp_path / f"part-{index}.parquet"
        table = pa.table({
            "id": pa.array(range(start, start + count), pa.int64()),
            "x": pa.array([float(i) for i in range(count)], pa.float32()),
            "name": pa.array([f"n{i}" for i in range(count)], pa.large_string()),
        })  # fmt: skip
        pq.write_table(table, path, row_group_size=row_group)
        files.append(InputFile(str(path), path.stat().st_size))
        start += count
    return files


def _read_all(files: list[InputFile], cores: int, max_bytes: int) -> pa.Table:
    schema = footer_schema(files[0].uri, None)
    assert schema is not None
    read = task_read(files, list(schema), cores, max_bytes, 1_000, "gcsSource", origin=True)
    batches = []
    for part in range(len(read.groups)):
        given = pa.record_batch({"id": pa.array([part], pa.int64())})
        batches.extend(read(iter([given])))
    return pa.Table.from_batches(batches, schema=read.output_schema)


@pytest.mark.parametrize(
    ("rows", "row_group", "cores", "max_bytes"),
    [
        ([1_000], 1_000, 2, 128 << 20),  # one row group, two cores: split by rows
        ([5_000, 3_000, 10], 700, 2, 128 << 20),  # files of many row groups
        ([5_000, 3_000], 700, 3, MIN_SPLIT_BYTES),  # ranges of the smallest size
        ([200_000], 20_000, 4, MIN_SPLIT_BYTES),  # one file in several byte ranges
    ],
)
def test_every_row_once_with_its_file_and_line(
    tmp_path: Path, rows: list[int], row_group: int, cores: int, max_bytes: int
) -> None:
    files = _files(tmp_path, rows, row_group)
    table = _read_all(files, cores, max_bytes)
    assert table.num_rows == sum(rows)
    assert sorted(table.column("id").to_pylist()) == list(range(sum(rows)))
    # the types are Spark's Arrow types (large_string read as string)
    assert table.schema.field("name").type == pa.string()
    assert table.schema.field("x").type == pa.float32()
    starts = [sum(rows[:i]) for i in range(len(rows))]
    for ident, file, line in zip(
        table.column("id").to_pylist(),
        table.column(ORIGIN_FILE).to_pylist(),
        table.column(ORIGIN_LINE).to_pylist(),
        strict=True,
    ):
        assert ident == starts[file] + line - 1


def test_tasks_per_core_and_split_of_large_inputs(tmp_path: Path) -> None:
    files = _files(tmp_path, [200_000, 200_000], 20_000)
    assert len(plan_fragments(files, 2, 128 << 20)) == 2
    assert len(plan_fragments(files, 2, MIN_SPLIT_BYTES)) >= 2
    size = sum(f.size for f in files)
    many = plan_fragments(files, 2, MIN_SPLIT_BYTES)
    assert len(many) == max(2, -(-size // MIN_SPLIT_BYTES))


def test_plain_types_only() -> None:
    plain = [pa.bool_(), pa.int8(), pa.int64(), pa.float32(), pa.float64(), pa.string(),
             pa.large_string(), pa.binary()]  # fmt: skip
    assert all(plain_arrow(t) for t in plain)
    others = [pa.uint32(), pa.timestamp("us"), pa.date32(), pa.decimal128(10, 2),
              pa.list_(pa.int64()), pa.dictionary(pa.int8(), pa.string()),
              pa.float16()]  # fmt: skip
    assert not any(plain_arrow(t) for t in others)


def test_a_corrupt_file_names_the_file(tmp_path: Path) -> None:
    files = _files(tmp_path, [100], 100)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    assert footer_schema(str(bad), None) is None
    schema = footer_schema(files[0].uri, None)
    assert schema is not None
    inputs = [*files, InputFile(str(bad), bad.stat().st_size)]
    read = task_read(inputs, list(schema), 1, 128 << 20, 1_000, "gcsSource")
    with pytest.raises(BadInputError, match=r"gcsSource: .*bad\.parquet cannot be read"):
        list(read(iter([pa.record_batch({"id": pa.array([0], pa.int64())})])))
