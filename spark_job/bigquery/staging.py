"""Executors write their partition of the predictions under a GCS staging prefix.

The gcs-connector jar (Spark's ``gs://`` filesystem) is not required: tasks write with pyarrow
(or fastavro) to a local temporary file and upload it with google-cloud-storage.

Each task streams its Arrow batches into one local file (Parquet, ORC or Avro), uploads it as
``<prefix>/part-<partition>-<attempt>-<id>.<ext>`` and reports the object's name; the driver
collects those names, so only files of successful task attempts are loaded.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from spark_job.errors import UserError
from spark_job.formats import avro_types, file_encoders
from spark_job.spec import FileFormat

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


def avro_schema(schema: pa.Schema) -> dict[str, Any]:
    """The staged Avro files' schema: arrays of non-null items, as BigQuery's REPEATED."""
    return avro_types.avro_schema(schema, nullable_items=False)


def check_stageable(schema: StructType, fmt: str, field: str) -> None:
    """On the driver, before any task runs: can rows of ``schema`` be staged as ``fmt``?"""
    if fmt != "avro":
        return
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        avro_schema(to_arrow_schema(schema))
    except avro_types.UnsupportedAvroType as error:
        raise UserError(
            f"{field}.options.intermediateFormat: {error}; use parquet (the default)."
        ) from None


def _write_local(batches: Iterator[pa.RecordBatch], path: str, fmt: str) -> int:
    """Stream ``batches`` into ``path``; return the row count (0: nothing written)."""
    first = next(batches, None)
    if first is None:
        return 0
    chained = itertools.chain([first], batches)
    if fmt == "parquet":
        return file_encoders.write_file(FileFormat.PARQUET, chained, first.schema, path, {})
    if fmt == "avro":
        return file_encoders.write_avro(chained, avro_schema(first.schema), path, "null")
    import pyarrow.orc as orc

    rows = 0
    with orc.ORCWriter(path) as writer:
        for batch in chained:
            writer.write(pa.Table.from_batches([batch]))
            rows += batch.num_rows
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
    task that writes: see :mod:`spark_job.scoring.arrow_scorer`).

    Returns (object name, rows) of each non-empty partition's successful task attempt.
    """

    def stage(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        from spark_job.storage import gcs

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

    from spark_job.storage import gcs

    arrow_schema = to_arrow_schema(schema)
    name = f"{prefix}/part-empty.{fmt}"
    with tempfile.TemporaryDirectory(prefix="spark_job_stage_") as directory:
        local = os.path.join(directory, f"part.{fmt}")
        _write_local(iter([pa.RecordBatch.from_pylist([], schema=arrow_schema)]), local, fmt)
        gcs.upload_file(gcs.client(emulator), local, gcs.GcsPath(bucket, name))
    return [(name, 0)]
