"""Executors stage the predictions: each task scores its partition and writes it as one file.

The one stager of every sink that writes from Python: result files (local or ``gs://``) and the
BigQuery sink's load files. The staging location is a local directory or a ``gs://`` prefix
that belongs to one run. A task streams its scored Arrow batches into a local temporary file,
then moves it (local) or uploads it (gs://, with google-cloud-storage: no gcs-connector jar
needed) as ``part-<partition>-<attempt>-<id>.<ext>`` and reports the name; the driver collects
those names, so only files of successful task attempts are published. Empty partitions write
nothing.

:func:`stage_resumable` also commits each part with a marker under the staging location, and
skips the partitions an earlier attempt of the same run already staged (see
:mod:`spark_job.sinks.markers`).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from spark_job.formats.file_encoders import Encoding
from spark_job.scoring.predictions import Predictions
from spark_job.sinks.markers import Resumed, ResumeKey, StagingFolder, marker_name, open_attempt
from spark_job.storage import gcs

STAGED_SCHEMA = "name string, rows long, part int"
_STAGED_ARROW = pa.schema([("name", pa.string()), ("rows", pa.int64()), ("part", pa.int32())])


@dataclass(frozen=True)
class StagedFile:
    name: str  # relative to the staging location
    rows: int
    part: int


@dataclass(frozen=True)
class StageTarget:
    """Where and how tasks stage: picklable, built once on the driver."""

    location: str  # a local directory or a gs://bucket/prefix (no trailing slash)
    encoding: Encoding
    emulator: str | None = None

    @property
    def extension(self) -> str:
        return self.encoding.extension

    def uri(self, name: str) -> str:
        return f"{self.location}/{name}"

    def put(self, local: str, name: str) -> None:
        """Move the finished local file ``local`` to ``name`` in the staging location."""
        gcs.put_file(local, self.location, name, self.emulator)


def _first_and_rest(
    batches: Iterator[pa.RecordBatch],
) -> tuple[pa.RecordBatch | None, Iterator[pa.RecordBatch]]:
    """The first non-empty batch and an iterator over it and the rest (None: no rows)."""
    for first in batches:
        if first.num_rows:

            def chained(head: pa.RecordBatch = first) -> Iterator[pa.RecordBatch]:
                yield head
                yield from batches

            return first, chained()
    return None, iter(())


def stage_partitions(
    predictions: Predictions,
    target: StageTarget,
    skip: frozenset[int] = frozenset(),
    mark: bool = False,
) -> list[StagedFile]:
    """Score and write every non-empty partition to ``target``; the staged files in
    partition order. Partitions in ``skip`` are neither read nor scored (their tasks end at
    once); with ``mark``, each staged part is committed with a marker (see
    :mod:`spark_job.sinks.markers`)."""
    transform = predictions.transform
    folder = StagingFolder(target.location, target.emulator) if mark else None

    def stage(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        part = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        if part in skip:
            return
        first, rows_iter = _first_and_rest(transform(batches))
        if first is None:
            return
        name = f"part-{part:05d}-{attempt}-{uuid.uuid4().hex[:8]}.{target.extension}"
        with tempfile.TemporaryDirectory(prefix="spark_job_part_") as directory:
            local = os.path.join(directory, name)
            rows = target.encoding.write(rows_iter, first.schema, local)
            target.put(local, name)
        if folder is not None:  # the part is wholly staged: commit it
            folder.write(marker_name(part), {"name": name, "rows": rows, "part": part})
        yield pa.RecordBatch.from_pydict(
            {"name": [name], "rows": [rows], "part": [part]}, schema=_STAGED_ARROW
        )

    staged = predictions.source.mapInArrow(stage, STAGED_SCHEMA).collect()
    files = [StagedFile(row.name, int(row.rows), int(row.part)) for row in staged]
    return sorted(files, key=lambda f: (f.part, f.name))


def stage_resumable(
    predictions: Predictions, target: StageTarget, key: ResumeKey | None
) -> tuple[list[StagedFile], Resumed]:
    """:func:`stage_partitions`, reusing what an earlier attempt of this run staged for the
    same ``key`` and committing each new part with a marker; ``key`` None or refused: nothing
    reused, nothing marked."""
    if key is None:
        return stage_partitions(predictions, target), Resumed()
    folder = StagingFolder(target.location, target.emulator)
    earlier, note = open_attempt(folder, key)
    reused = [StagedFile(str(m["name"]), int(m["rows"]), part) for part, m in earlier.items()]
    mark = not key.refusal
    files = stage_partitions(predictions, target, frozenset(earlier), mark)
    files = sorted([*reused, *files], key=lambda f: (f.part, f.name))
    rows = sum(f.rows for f in reused)
    return files, Resumed(len(reused), key.partitions, rows, note)


def not_resumable(target: str, emulator: str | None, key: ResumeKey | None, why: str) -> Resumed:
    """For a sink path that stages without the stager (Spark's writers, the connector): reuse
    nothing, and say ``why`` when an earlier attempt of this run staged something."""
    if key is None:
        return Resumed()
    refused = ResumeKey(partitions=key.partitions, refusal=key.refusal or why)
    _, note = open_attempt(StagingFolder(target, emulator), refused)
    return Resumed(0, key.partitions, 0, note)


def stage_empty(target: StageTarget, schema: StructType, name: str) -> StagedFile:
    """One file of no rows (but the schema, where the format has one) at ``name``: no partition
    had a row, and the output must still exist (or an OVERWRITE still replace it)."""
    arrow_schema = to_arrow_schema(schema)
    with tempfile.TemporaryDirectory(prefix="spark_job_part_") as directory:
        local = os.path.join(directory, name)
        target.encoding.write(iter(()), arrow_schema, local)
        target.put(local, name)
    return StagedFile(name, 0, -1)
