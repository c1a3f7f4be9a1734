"""Row-level errors: what a bad instance is, how it is counted, reported and judged.

``errorHandling.mode`` decides what happens when an instance cannot be used:

- ``FAIL_FAST`` (default): the task raises at the first bad instance, naming its file and line;
- ``RECORD_AND_CONTINUE``: the instance is left out of the results and recorded in an
  accumulator (a count per error kind, a few examples); at the end the job fails if the share
  of bad instances exceeds ``errorHandling.maxErrorRatio``.

Error kinds: ``UNPARSEABLE`` (a line or record that cannot be decoded), ``WRONG_TYPE`` (a
decoded instance whose values do not fit the input's column types), ``MODEL_ERROR`` (the model
raised on the instance).

Under ``RECORD_AND_CONTINUE`` a sink may also keep every failed instance whole (see
:mod:`spark_job.scoring.error_records`): :class:`TaskErrors` writes them as it counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.accumulators import Accumulator, AccumulatorParam

from spark_job.errors import UserError
from spark_job.scoring.error_records import (
    ErrorRecords,
    RecordFilesParam,
    RecordsTarget,
    published_files,
)
from spark_job.spec import ErrorHandling, ErrorMode

if TYPE_CHECKING:
    import pyarrow as pa

WRONG_TYPE = "WRONG_TYPE"
MODEL_ERROR = "MODEL_ERROR"

#: Examples kept per error kind (the report shows where to look, not every failure).
MAX_EXAMPLES = 5
#: Longest error message kept in an example.
MAX_MESSAGE = 500

ERRORS_PREFIX = "prediction.errors_stats"

# Hidden columns a file source adds so errors can name the instance's origin: the index of
# the input file (into RowErrors.files) and the 1-based line (text) or record (binary) number.
ORIGIN_FILE = "__spark_job_file"
ORIGIN_LINE = "__spark_job_line"
ORIGIN_COLUMNS = (ORIGIN_FILE, ORIGIN_LINE)


class BadInputError(ValueError):
    """FAIL_FAST: an input line or record is unusable; raised inside a Spark task.

    The runner recognises this class name in the task failure and reports the message as a
    user error (exit 2): the input must be fixed.
    """


class InstanceFailedError(RuntimeError):
    """FAIL_FAST: the model raised on an instance; raised inside a Spark task.

    A user error (exit 2): the model or the instance must be fixed, and the message names the
    instance (its file and line when the source gives them)."""


def short(message: str) -> str:
    """One line, at most MAX_MESSAGE characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def describe_exception(error: BaseException) -> str:
    return short(f"{type(error).__name__}: {error}")


def where(file: str | None, line: int | None) -> str:
    if file is None:
        return "an instance"
    return f"{file} line {line}" if line is not None else file


# --------------------------------------------------------------------------- accumulator


Stats = dict[str, dict[str, Any]]  # kind -> {"count": int, "examples": [example, ...]}


class ErrorStatsParam(AccumulatorParam[Stats]):
    """Merges error statistics from tasks: counts add up, examples are kept up to a limit."""

    def zero(self, value: Stats) -> Stats:
        return {}

    def addInPlace(self, value1: Stats, value2: Stats) -> Stats:  # noqa: N802 - Spark's name
        for kind, stats in value2.items():
            mine = value1.setdefault(kind, {"count": 0, "examples": []})
            mine["count"] += stats["count"]
            room = MAX_EXAMPLES - len(mine["examples"])
            if room > 0:
                mine["examples"].extend(stats["examples"][:room])
        return value1


def example(file: str | None, line: int | None, message: str) -> dict[str, Any]:
    return {"file": file, "line": line, "message": short(message)}


class TaskErrors:
    """Errors seen by one task (or one partition), flushed to the accumulator in one update;
    with ``records``, each failed instance is also written as an error record."""

    def __init__(
        self, accumulator: Accumulator[Stats] | None, records: ErrorRecords | None = None
    ) -> None:
        self.accumulator = accumulator
        self.stats: Stats = {}
        self.writer = records.writer() if records is not None else None
        #: The batch being scored: row ``i`` of the model's frame is its row ``i``.
        self.instances: pa.RecordBatch | None = None

    @classmethod
    def for_policy(cls, policy: TaskPolicy | None) -> TaskErrors:
        if policy is None:
            return cls(None)
        return cls(policy.accumulator, policy.records)

    @property
    def recording(self) -> bool:
        """Whether failed instances are written (not only counted)."""
        return self.writer is not None

    def instance(self, row: int) -> dict[str, Any] | None:
        """Row ``row`` of :attr:`instances` without the origin columns (None: not recording)."""
        if self.writer is None or self.instances is None:
            return None
        values = self.instances.slice(row, 1).to_pylist()[0]
        return {k: v for k, v in values.items() if k not in ORIGIN_COLUMNS}

    def record(
        self,
        kind: str,
        file: str | None,
        line: int | None,
        message: str,
        instance: dict[str, Any] | None = None,
        example_note: str = "",
    ) -> None:
        """Count one failed instance; write its record when recording (``instance`` as the
        record holds it). ``example_note`` is added to the message in the examples only."""
        stats = self.stats.setdefault(kind, {"count": 0, "examples": []})
        stats["count"] += 1
        if len(stats["examples"]) < MAX_EXAMPLES:
            stats["examples"].append(example(file, line, message + example_note))
        if self.writer is not None:
            text = f"{where(file, line)}: {message}" if file is not None else message
            self.writer.add(instance, kind, text)

    def flush(self) -> None:
        if self.stats and self.accumulator is not None:
            self.accumulator.add(self.stats)
        self.stats = {}

    def close(self) -> None:
        """The task's end: the counts flushed, the records (if any) put and reported."""
        self.flush()
        if self.writer is not None:
            self.writer.close()


# --------------------------------------------------------------------------- job-level


@dataclass
class RowErrors:
    """The job's error policy and its error accumulator (created on the driver).

    ``source_field`` names the source in messages (``gcsSource``).
    """

    handling: ErrorHandling
    accumulator: Accumulator[Stats] | None = None
    source_field: str = "source"
    records: ErrorRecords | None = None

    @classmethod
    def create(
        cls,
        spark: Any,
        handling: ErrorHandling,
        source_field: str,
        records: RecordsTarget | None = None,
    ) -> RowErrors:
        """The job's errors; under RECORD_AND_CONTINUE, failed instances are also written
        where ``records`` (the sink's :meth:`~spark_job.sinks.base.Sink.records_target`)
        says, when it names a place."""
        accumulator = spark.sparkContext.accumulator({}, ErrorStatsParam())
        errors = cls(handling=handling, accumulator=accumulator, source_field=source_field)
        target = records if errors.record_and_continue else None
        if target is not None:
            names = spark.sparkContext.accumulator([], RecordFilesParam())
            errors.records = ErrorRecords(target, names)
        return errors

    @property
    def record_and_continue(self) -> bool:
        return self.handling.mode is ErrorMode.RECORD_AND_CONTINUE

    def task_view(self, files: list[str] | tuple[str, ...] = ()) -> TaskPolicy:
        """What a task needs: picklable, small. ``files`` are the input files of a file
        source, which its rows name by index (the ORIGIN_FILE column)."""
        return TaskPolicy(
            record=self.record_and_continue,
            accumulator=self.accumulator,
            source_field=self.source_field,
            files=list(files),
            records=self.records,
        )

    @property
    def stats(self) -> Stats:
        return dict(self.accumulator.value) if self.accumulator is not None else {}

    @property
    def failed(self) -> int:
        return sum(int(s["count"]) for s in self.stats.values())

    @property
    def record_files(self) -> tuple[str, ...]:
        """The error records' side files of successful tasks (names under the target)."""
        if self.records is None:
            return ()
        return tuple(published_files(self.records.accumulator.value))

    def report(self, rows_predicted: int) -> ErrorReport:
        return ErrorReport(stats=self.stats, rows_ok=rows_predicted, record_files=self.record_files)

    def check(self, rows_predicted: int) -> ErrorReport | None:
        """The job's end: raise UserError if too many instances failed; the report to publish
        (RECORD_AND_CONTINUE only; in FAIL_FAST any bad instance has already stopped the job)."""
        if not self.record_and_continue:
            return None
        report = self.report(rows_predicted)
        limit = self.handling.max_error_ratio
        if report.failed and report.ratio > limit:
            kinds = ", ".join(f"{k}: {s['count']}" for k, s in sorted(report.stats.items()))
            first = report.first_example()
            raise UserError(
                f"errorHandling.maxErrorRatio: {report.failed} of {report.total} instances"
                f" failed ({report.ratio:.1%}), more than the allowed {limit:.1%}"
                f" ({kinds}); first: {first}. Nothing was written."
            )
        return report


@dataclass(frozen=True)
class TaskPolicy:
    """The error policy as shipped to tasks (readers and the model UDF)."""

    record: bool
    accumulator: Accumulator[Stats] | None
    source_field: str
    files: list[str]
    records: ErrorRecords | None = None  # where failed instances are written, if anywhere

    def file_name(self, index: Any) -> str | None:
        if index is None:
            return None
        try:
            return self.files[int(index)]
        except (IndexError, ValueError, TypeError):
            return None


@dataclass(frozen=True)
class ErrorReport:
    """Counts and examples per error kind, as written to ``prediction.errors_stats-*``;
    ``record_files``: the error records' side files to publish (names under the sink's
    :class:`~spark_job.scoring.error_records.RecordsTarget`)."""

    stats: Stats
    rows_ok: int
    record_files: tuple[str, ...] = ()

    @property
    def failed(self) -> int:
        return sum(int(s["count"]) for s in self.stats.values())

    @property
    def total(self) -> int:
        return self.rows_ok + self.failed

    @property
    def ratio(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def first_example(self) -> str:
        for _kind, stats in sorted(self.stats.items()):
            for item in stats["examples"]:
                return f"{where(item['file'], item['line'])}: {item['message']}"
        return "none"

    def to_json_lines(self) -> bytes:
        """One JSON object per error kind: ``{"error", "count", "examples": [{file, line,
        message}]}``; empty when nothing failed."""
        lines = [
            json.dumps(
                {"error": kind, "count": stats["count"], "examples": stats["examples"]},
                sort_keys=False,
            )
            for kind, stats in sorted(self.stats.items())
        ]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def errors_shard_name() -> str:
    return f"{ERRORS_PREFIX}-00000-of-00001"
