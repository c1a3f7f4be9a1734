"""Error records: every instance left out under ``RECORD_AND_CONTINUE``, written whole.

One JSON line per failed instance, as Vertex AI's batch prediction writes them::

    {"instance": {"key": "a", "x": -1.0}, "error": {"code": "MODEL_ERROR", "message": "..."}}

``instance`` holds an instance the model failed on as the output would hold it (passthrough +
features, encoded like the JSON results); an instance the file reader could not use
(``UNPARSEABLE``, ``WRONG_TYPE``) is ``{"raw": TEXT}``: its line as read (JSON lines), its
fields re-joined (CSV), or the decoded instance as JSON (``WRONG_TYPE``); null when nothing
could be decoded (corrupt TFRecord, Avro or gzip data). When ``raw`` is an input column the
key is ``_raw`` (``__raw``, ...): see :func:`raw_key`. ``message`` starts with the file and
line when the source knows them.

Each task that has records writes them to ONE side file under the location its sink chose
(:class:`RecordsTarget`, inside the run's staging) and reports the file's name through an
accumulator (:class:`ErrorRecords`). Spark applies a task's accumulator update once per
successful task, so the driver publishes only files of successful attempts; a stage run
again (or a speculative twin) can report a partition twice: :func:`published_files` keeps one
file per stage and partition. The sink publishes the files (:func:`publication`) or loads them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from pyspark.accumulators import Accumulator, AccumulatorParam

from spark_job.formats.file_encoders import json_line
from spark_job.storage import gcs

#: Published names: ``prediction.errors-00000-of-00002`` (beside ``prediction.results-*``).
RECORDS_PREFIX = "prediction.errors"
#: The key of an unusable input instance's text in its record (see :func:`raw_key`).
RAW = "raw"
_SIDE_PREFIX = "errors-"


def record_line(instance: dict[str, Any] | None, code: str, message: str) -> str:
    """One error record, as a JSON line without its newline."""
    return json_line({"instance": instance, "error": {"code": code, "message": message}})


def raw_key(columns: Iterable[str]) -> str:
    """The key of the raw text in a record: ``raw``, or with ``_`` before it until it is not
    one of the input's ``columns`` (so a table of records can hold both)."""
    taken = set(columns)
    key = RAW
    while key in taken:
        key = f"_{key}"
    return key


class RecordFilesParam(AccumulatorParam[list[str]]):
    """The names of the side files written by successful tasks."""

    def zero(self, value: list[str]) -> list[str]:
        return []

    def addInPlace(self, value1: list[str], value2: list[str]) -> list[str]:  # noqa: N802
        value1.extend(value2)
        return value1


@dataclass(frozen=True)
class RecordsTarget:
    """Where tasks put their side files: a local directory or a ``gs://`` prefix of this run
    (no trailing slash); picklable, chosen by the sink on the driver."""

    location: str
    emulator: str | None = None

    def uri(self, name: str) -> str:
        return f"{self.location}/{name}"

    def put(self, local: str, name: str) -> None:
        gcs.put_file(local, self.location, name, self.emulator)


@dataclass(frozen=True)
class ErrorRecords:
    """What a task needs to record failed instances: the target and the names accumulator."""

    target: RecordsTarget
    accumulator: Accumulator[list[str]]

    def writer(self) -> RecordWriter:
        return RecordWriter(self)


def _side_file_name() -> str:
    """``errors-<stage>-<partition>-<attempt>-<id>.json`` (``errors-<id>.json`` outside a
    Spark task: never taken for a twin of another file)."""
    from pyspark import TaskContext

    unique = uuid.uuid4().hex[:8]
    context = TaskContext.get()
    if context is None:
        return f"{_SIDE_PREFIX}{unique}.json"
    stage, part, attempt = context.stageId(), context.partitionId(), context.attemptNumber()
    return f"{_SIDE_PREFIX}{stage}-{part:05d}-{attempt}-{unique}.json"


class RecordWriter:
    """One task's records: a local file opened at the first record, put at :meth:`close`."""

    def __init__(self, records: ErrorRecords) -> None:
        self.records = records
        self.count = 0
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._out: IO[str] | None = None
        self._path = ""

    def add(self, instance: dict[str, Any] | None, code: str, message: str) -> None:
        if self._out is None:
            self._directory = tempfile.TemporaryDirectory(prefix="spark_job_errors_")
            self._path = os.path.join(self._directory.name, "records.json")
            self._out = open(self._path, "w", encoding="utf-8")  # noqa: SIM115 - kept open
        self._out.write(record_line(instance, code, message) + "\n")
        self.count += 1

    def close(self) -> None:
        """The task's end: put the side file (when there was a record) and report its name.
        Not called when the task fails: its records are dropped with the task."""
        if self._out is None or self._directory is None:
            return
        try:
            self._out.close()
            name = _side_file_name()
            self.records.target.put(self._path, name)
            self.records.accumulator.add([name])
        finally:
            self._directory.cleanup()
            self._out = self._directory = None


def _twin_key(name: str) -> tuple[str, str] | None:
    """(stage, partition) of a side file's name; None for a name outside a Spark task."""
    parts = name.removeprefix(_SIDE_PREFIX).split("-")
    return (parts[0], parts[1]) if len(parts) == 4 else None


def published_files(names: Iterable[str]) -> list[str]:
    """The side files to publish, one per stage and partition (its first attempt's), sorted."""
    chosen: dict[Any, str] = {}
    for name in sorted(set(names), key=lambda n: (_attempt(n), n)):
        key = _twin_key(name) or name
        chosen.setdefault(key, name)
    return sorted(chosen.values())


def _attempt(name: str) -> int:
    parts = name.removeprefix(_SIDE_PREFIX).split("-")
    try:
        return int(parts[2]) if len(parts) == 4 else 0
    except ValueError:
        return 0


def publication(files: list[str]) -> list[tuple[str, str]]:
    """(side file, published name) of each file: ``prediction.errors-00000-of-0000N``."""
    count = len(files)
    return [(name, f"{RECORDS_PREFIX}-{i:05d}-of-{count:05d}") for i, name in enumerate(files)]
