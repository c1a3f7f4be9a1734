"""What every sink provides: a SaveMode decision before compute, then an all-or-nothing write."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from spark_job.scoring.arrow_scorer import Scored
from spark_job.scoring.row_errors import ErrorReport


@dataclass(frozen=True)
class OutputColumns:
    """The columns of the predictions DataFrame, by role."""

    passthrough: list[str]
    features: list[str]
    result: str

    @property
    def all(self) -> list[str]:
        return [*self.passthrough, *self.features, self.result]


class SinkWriter(ABC):
    """Writes the predictions.

    ``prepare`` runs on the driver before anything is read or predicted: it applies the
    SaveMode to what exists (raise :class:`~spark_job.errors.UserError` for ERRORIFEXISTS,
    return False to skip the job for IGNORE). ``write`` publishes the whole result or nothing
    and returns the number of rows written when it knows it. ``abort`` removes anything
    staged; it is called on every failure and may be called more than once.
    """

    #: Why ``prepare`` chose to skip the job, for the summary.
    skip_reason: str = "the output exists and save_mode is IGNORE; nothing predicted"

    #: Set by the runner; see :meth:`staged`.
    on_staged: Callable[[], ErrorReport | None] | None = None

    #: Set by the runner: failed instances are dropped and counted (RECORD_AND_CONTINUE), so
    #: the error ratio is only known once every row is predicted. (Under FAIL_FAST a bad
    #: instance fails its task, and so the write.)
    drops_failed_rows: bool = False

    def staged(self) -> ErrorReport | None:
        """``write`` calls this once the results are staged, before publishing them.

        It raises when the job must fail after all (more bad instances than
        ``errorHandling.maxErrorRatio`` allows: nothing may be published) and returns the
        row-error report to publish with the results (None when there is none).
        """
        return self.on_staged() if self.on_staged is not None else None

    @abstractmethod
    def prepare(self, spark: SparkSession) -> bool: ...

    @abstractmethod
    def write(
        self, predictions: DataFrame, columns: OutputColumns, scored: Scored | None = None
    ) -> int | None:
        """Write ``predictions``. ``scored``, when given, is the same predictions still to
        compute, for a sink that can score in the tasks that write (see
        :mod:`spark_job.scoring.arrow_scorer`).
        """

    @abstractmethod
    def abort(self) -> None: ...

    @property
    @abstractmethod
    def destination(self) -> str:
        """Where the results go, for messages and the summary."""
