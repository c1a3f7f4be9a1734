"""Each task writes its partition of the predictions as one file in a staging location.

The location is a local directory or a ``gs://`` prefix. A task streams its Arrow batches into
a local file, then (for gs://) uploads it as ``part-<partition>-<attempt>-<id>.<ext>`` and
reports its name; the driver collects those names, so only files of successful task attempts
are published. Empty partitions write nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema

from spark_job.formats.file_encoders import EXTENSIONS, write_file
from spark_job.spec import FileFormat
from spark_job.storage import gcs

STAGED_SCHEMA = "name string, rows long, part int"

#: Arrow batches in, Arrow batches out: what a task applies before writing.
ArrowTransform = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class StagedFile:
    name: str  # relative to the staging location
    rows: int
    part: int


@dataclass(frozen=True)
class StageTarget:
    format: FileFormat
    location: str  # a local directory or a gs://bucket/prefix (no trailing slash)
    options: dict[str, str]
    emulator: str | None = None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    def put(self, local: str, name: str) -> None:
        """Move the finished local file ``local`` to ``name`` in the staging location."""
        if gcs.is_gcs(self.location):
            target = gcs.parse(f"{self.location}/{name}")
            gcs.upload_file(gcs.client(self.emulator), local, target)
        else:
            shutil.move(local, os.path.join(self.location, name))


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _first_and_rest(
    batches: Iterator[pa.RecordBatch],
) -> tuple[pa.RecordBatch | None, Iterator[pa.RecordBatch]]:
    """The first non-empty batch and an iterator over it and the rest (None: no rows)."""
    for first in batches:
        if first.num_rows:
            return first, _chain(first, batches)
    return None, iter(())


def stage_partitions(
    predictions: DataFrame, target: StageTarget, transform: ArrowTransform | None = None
) -> list[StagedFile]:
    """Write every non-empty partition of ``predictions`` to ``target``; the staged files in
    partition order. With ``transform``, each task writes ``transform`` of its batches (the
    model scoring them in the same task: see :mod:`spark_job.scoring.arrow_scorer`)."""

    def stage(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        part = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        first, rows_iter = _first_and_rest(transform(batches) if transform else batches)
        if first is None:
            return
        name = f"part-{part:05d}-{attempt}-{uuid.uuid4().hex[:8]}.{target.extension}"
        with tempfile.TemporaryDirectory(prefix="spark_job_part_") as directory:
            local = os.path.join(directory, name)
            rows = write_file(target.format, rows_iter, first.schema, local, target.options)
            target.put(local, name)
        yield pa.RecordBatch.from_pydict(
            {"name": [name], "rows": [rows], "part": [part]},
            schema=pa.schema([("name", pa.string()), ("rows", pa.int64()), ("part", pa.int32())]),
        )

    staged = predictions.mapInArrow(stage, STAGED_SCHEMA).collect()
    files = [StagedFile(row.name, int(row.rows), int(row.part)) for row in staged]
    return sorted(files, key=lambda f: (f.part, f.name))


def write_empty(target: StageTarget, predictions: DataFrame, name: str) -> None:
    """One file with no rows (but the schema, where the format has one) at ``name``."""
    schema = to_arrow_schema(predictions.schema)
    with tempfile.TemporaryDirectory(prefix="spark_job_part_") as directory:
        local = os.path.join(directory, name)
        write_file(target.format, iter(()), schema, local, target.options)
        target.put(local, name)
