"""What every sink provides: a two-phase writer, shaped like Spark's ``DataSourceWriter``.

The runner alone drives it, in this order::

    prepare(spark)           driver, before anything is read: Proceed, Skip(reason), or
                             Finished (this run's interrupted publish, completed)
    records_target()         driver, RECORD_AND_CONTINUE only: where failed instances go
    stage(predictions, key)  executors write under a staging location of this run only
    publish(staged, report)  driver, once the row errors are judged: all or nothing
    abort()                  driver, on any failure (and safe to call more than once)

Resuming: the staging location is named from the run id, and ``abort`` runs only when the
driver is alive to run it. A driver killed outright (SIGKILL, out of memory, a lost node)
leaves it as it was, and a driver restarted with the same run id reuses the parts already
staged for the same ``key`` (:mod:`spark_job.sinks.markers`); one killed while publishing is
finished by the restarted driver's ``connect`` (``Finished``: nothing is predicted again).
A failure the driver sees, or a SIGTERM, aborts: the staging is removed.

The SaveMode is decided here, once, for every sink, through two hooks a sink implements:
:meth:`Sink.output_exists` and, for a sink that must look something up first (a service, the
engine), :meth:`Sink.connect`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.scoring.error_records import RecordsTarget
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import ErrorReport
from spark_job.sinks.markers import Resumed, ResumeKey
from spark_job.sinks.stager import StagedFile
from spark_job.spec import SaveMode
from spark_job.storage.locations import Place


@dataclass(frozen=True)
class Proceed:
    """``prepare``'s answer: stage and publish."""


@dataclass(frozen=True)
class Skip:
    """``prepare``'s answer: nothing to do (``reason`` goes into the summary)."""

    reason: str


@dataclass(frozen=True)
class Finished:
    """``prepare``'s answer when an earlier attempt of this run (same run id) had begun to
    publish and was killed: its publish is now complete (completed here, or found done), so
    nothing is predicted again. ``rows`` were published (None: unknown), ``failed`` instances
    left out; ``note`` goes into the summary."""

    note: str
    rows: int | None = None
    failed: int = 0


@dataclass(frozen=True)
class Staged:
    """What ``stage`` leaves for ``publish``: the staged files (or whatever the sink staged
    instead, in ``held``), the rows staged when the sink counted them, and what was reused
    of an earlier attempt of the run (``resumed``; its rows are part of ``rows``)."""

    files: list[StagedFile] = field(default_factory=list)
    rows: int | None = None
    held: Any = None
    resumed: Resumed = field(default_factory=Resumed)


class Sink(ABC):
    """A destination for the predictions; see the module's docstring for the protocol.

    ``field`` is the spec path of the sink (``gcsSink``), ``location_field`` the key that names
    the output (``uri``, ``table``); ``save_mode`` is the spec's.
    """

    field: str
    location_field: str
    save_mode: SaveMode

    # ------------------------------------------------------------------ hooks
    def connect(self, spark: SparkSession) -> Skip | Finished | None:
        """Driver, first in ``prepare``: look up what the sink needs (services, the engine);
        Finished when an earlier attempt of this run published (or began to publish, and the
        sink completed it here): the SaveMode is not applied to its own results."""
        return None

    @abstractmethod
    def output_exists(self) -> bool:
        """Driver: whether the destination already holds data (prepare, then publish)."""

    def output_places(self, recording: bool) -> list[Place]:
        """Driver, before anything is read: where this sink writes (``recording``: also where
        the error records of RECORD_AND_CONTINUE go), compared with the inputs so that no
        output is written over an input (staging next to the output is not listed)."""
        return []

    def check_writable(self, exists: bool) -> None:  # noqa: B027 - most sinks need nothing
        """Driver, last in ``prepare``: raise UserError when the output cannot be written."""

    @property
    @abstractmethod
    def destination(self) -> str:
        """Where the results go, for messages and the summary."""

    # ------------------------------------------------------------------ protocol
    def prepare(self, spark: SparkSession) -> Proceed | Skip | Finished:
        """Apply the SaveMode to what exists, before anything is read or predicted."""
        skip = self.connect(spark)
        if skip is not None:
            return skip
        exists = self.output_exists()
        mode = self.save_mode
        if exists and mode.fails_if_exists:
            raise UserError(
                f"{self.field}.{self.location_field}: {self.describe()} already exists and"
                f" {self.field}.save_mode is {mode.value}; use OVERWRITE, APPEND or IGNORE, or"
                " remove it."
            )
        if exists and mode is SaveMode.IGNORE:
            return Skip(f"{self.destination} exists and save_mode is IGNORE; nothing predicted")
        self.check_writable(exists)
        return Proceed()

    def records_target(self) -> RecordsTarget | None:
        """Driver, after ``prepare``, only under RECORD_AND_CONTINUE: where tasks (readers and
        scorers) put the error records of the instances they leave out, inside this run's
        staging (see :mod:`spark_job.scoring.error_records`); None: the sink keeps none.
        ``commit`` then finds the files to publish in ``report.record_files``."""
        return None

    @abstractmethod
    def stage(self, predictions: Predictions, key: ResumeKey | None = None) -> Staged:
        """Score and write the predictions under this run's staging location (executors),
        reusing the parts an earlier attempt of the run staged for the same ``key`` (None:
        nothing reused, nothing marked for a rerun)."""

    def publish(self, staged: Staged, report: ErrorReport | None) -> int | None:
        """Make the staged results the output, atomically; the rows published (None: not
        counted by the sink).

        ``report`` is the row-error report (RECORD_AND_CONTINUE), published with the results.
        Under ERRORIFEXISTS and IGNORE an output that appeared while the job ran is left alone.
        """
        if self.save_mode not in (SaveMode.OVERWRITE, SaveMode.APPEND) and self.output_exists():
            raise UserError(
                f"{self.field}.{self.location_field}: {self.describe()} appeared while the job"
                f" ran and save_mode is {self.save_mode.value}; nothing was written."
            )
        return self.commit(staged, report)

    @abstractmethod
    def commit(self, staged: Staged, report: ErrorReport | None) -> int | None:
        """``publish`` once the SaveMode allows it: the sink's own atomic step."""

    @abstractmethod
    def abort(self) -> None:
        """Remove anything staged; called on every failure, possibly more than once."""

    def describe(self) -> str:
        """The output in messages: ``output '<uri>'``, ``table p.d.t``."""
        return f"output '{self.destination}'"
