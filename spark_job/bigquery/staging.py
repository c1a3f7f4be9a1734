"""Executors write their partition of the predictions under a GCS staging prefix.

The gcs-connector jar (Spark's ``gs://`` filesystem) is not required: tasks write with pyarrow
(or fastavro) to a local temporary file and upload it with google-cloud-storage.

Each task streams its Arrow batches into one local file (Parquet, ORC or Avro), uploads it as
``<prefix>/part-<partition>-<attempt>-<id>.<ext>`` and reports the object's name; the driver
collects those names, so only files of successful task attempts are loaded.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from spark_job.errors import UserError

#: Arrow batches in, Arrow batches out: what a task applies before writing.
ArrowTransform = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]

FORMATS = {"parquet": "PARQUET", "orc": "ORC", "avro": "AVRO"}
STAGED_SCHEMA = "object string, rows long"


def source_format(options: dict[str, str], field: str) -> str:
    """The load job's source format for ``intermediateFormat`` (parquet default, orc, avro)."""
    name = options.get("intermediateFormat", "parquet").strip().lower()
    if name not in FORMATS:
        raise UserError(
            f"{field}.options.intermediateFormat: '{name}' is not one of {', '.join(FORMATS)}."
        )
    return name


def _write_local(batches: Iterator[pa.RecordBatch], path: str, fmt: str) -> int:
    """Stream ``batches`` into ``path``; return the row count (0: nothing written)."""
    rows = 0
    first = next(batches, None)
    if first is None:
        return 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, first.schema) as writer:
            for batch in _chain(first, batches):
                writer.write_batch(batch)
                rows += batch.num_rows
    elif fmt == "orc":
        import pyarrow.orc as orc

        with orc.ORCWriter(path) as writer:
            for batch in _chain(first, batches):
                writer.write(pa.Table.from_batches([batch]))
                rows += batch.num_rows
    else:
        rows = _write_avro(_chain(first, batches), first.schema, path)
    return rows


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _avro_type(data_type: pa.DataType) -> Any:
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type):
        return "long"
    if pa.types.is_floating(data_type):
        return "double"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_binary(data_type):
        return "bytes"
    if pa.types.is_date(data_type):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_timestamp(data_type):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if pa.types.is_list(data_type):
        return {"type": "array", "items": _avro_type(data_type.value_type)}
    if pa.types.is_struct(data_type):
        return {
            "type": "record",
            "name": f"r{uuid.uuid4().hex[:8]}",
            "fields": [{"name": f.name, "type": ["null", _avro_type(f.type)]} for f in data_type],
        }
    raise UserError(
        f"Arrow type {data_type} cannot be staged as Avro; use intermediateFormat parquet"
    )


def _write_avro(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: str) -> int:
    import fastavro

    avro_schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "prediction",
            "fields": [{"name": f.name, "type": ["null", _avro_type(f.type)]} for f in schema],
        }
    )
    rows = 0
    with open(path, "wb") as out:
        writer = fastavro.write.Writer(out, avro_schema)
        for batch in batches:
            for record in batch.to_pylist():
                writer.write(record)
            rows += batch.num_rows
        writer.flush()
    return rows


def stage_partitions(
    predictions: DataFrame,
    bucket: str,
    prefix: str,
    fmt: str,
    emulator: str | None,
    transform: ArrowTransform | None = None,
) -> list[tuple[str, int]]:
    """Write every partition of ``predictions`` under ``gs://bucket/prefix/``; with
    ``transform``, what it makes of each partition's batches (the model scoring them in the
    task that writes: see :mod:`spark_job.scoring`).

    Returns (object name, rows) of each non-empty partition's successful task attempt.
    """

    def stage(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        from spark_job import gcs

        context = TaskContext.get()
        part = f"{context.partitionId():05d}-{context.attemptNumber()}" if context else "x"
        name = f"{prefix}/part-{part}-{uuid.uuid4().hex[:8]}.{fmt}"
        with tempfile.TemporaryDirectory(prefix="spark_job_stage_") as directory:
            local = os.path.join(directory, f"part.{fmt}")
            rows = _write_local(transform(batches) if transform else iter(batches), local, fmt)
            if rows:
                gcs.upload_file(gcs.client(emulator), local, gcs.GcsPath(bucket, name))
                yield pa.RecordBatch.from_pydict({"object": [name], "rows": [rows]})

    staged = predictions.mapInArrow(stage, STAGED_SCHEMA).collect()
    return [(row.object, int(row.rows)) for row in staged]


def stage_empty(
    schema: StructType, bucket: str, prefix: str, fmt: str, emulator: str | None
) -> list[tuple[str, int]]:
    """Stage one file of zero rows with ``schema`` (no partition had a row), so that an empty
    result is published by the same single load job as any other: an OVERWRITE still
    replaces the table's rows (with none), atomically and under this run's load-job id."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from spark_job import gcs

    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    name = f"{prefix}/part-empty.{fmt}"
    with tempfile.TemporaryDirectory(prefix="spark_job_stage_") as directory:
        local = os.path.join(directory, f"part.{fmt}")
        _write_local(iter([pa.RecordBatch.from_pylist([], schema=arrow_schema)]), local, fmt)
        gcs.upload_file(gcs.client(emulator), local, gcs.GcsPath(bucket, name))
    return [(name, 0)]
