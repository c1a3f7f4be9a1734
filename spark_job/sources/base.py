"""What every source provides: a DataFrame of passthrough + feature columns."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from spark_job.errors import UserError
from spark_job.scoring.row_errors import RowErrors
from spark_job.storage.locations import Place

#: A task's own read of its input: its partition number in (a one-column batch), the batches
#: of the input frame's columns out.
TaskRead = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class TaskInput:
    """An input the scoring tasks read themselves: ``tasks`` tasks, each given its partition
    number, which ``read`` (picklable) turns into its share of the input's batches."""

    tasks: int
    read: TaskRead

    def frame(self, spark: SparkSession) -> DataFrame:
        """What the tasks map: ``tasks`` partitions of one row each, the partition number
        (planned in the JVM with no input to list or decode)."""
        return spark.range(0, self.tasks, 1, self.tasks)

    def read_frame(self, spark: SparkSession, schema: StructType) -> DataFrame:
        """The input itself, ``schema``'s columns: each task runs ``read`` on its number."""
        return self.frame(spark).mapInArrow(self.read, schema)


class SourceReader(ABC):
    """Reads the job's input.

    ``read`` returns a DataFrame whose columns are exactly the passthrough columns then the
    features (all non-passthrough columns when the spec lists no features), then, for sources
    that know where each instance came from, the hidden ``row_errors.ORIGIN_COLUMNS`` (the
    index of the file in :attr:`input_files` and the line, used in error reports; never given
    to the model). ``close`` releases what reading needed (a materialized view, a temporary
    directory); it is always called.
    """

    #: Rows the source expects to produce, when it can tell cheaply (for progress and ETA).
    estimated_rows: int | None = None

    #: The files ``read`` reads, which the ORIGIN_FILE column indexes (file sources only).
    input_files: tuple[str, ...] = ()

    #: The input names of the model's signature: the features when the spec lists none (those
    #: the input has; the signature check reports the others). None: every column.
    model_inputs: list[str] | None = None

    @abstractmethod
    def read(
        self, spark: SparkSession, errors: RowErrors | None = None, count_rows: bool = False
    ) -> DataFrame:
        """Driver, once: the input, planned (not computed).

        ``errors`` is the job's row-error policy, for sources that isolate bad instances (file
        sources; others ignore it; None: FAIL_FAST); ``count_rows`` says progress will ask
        :meth:`expected_rows` (sources whose count costs a Spark job run it only then).
        """

    def task_input(self, frame: DataFrame, batch_rows: int) -> TaskInput | None:
        """Driver, after ``read``: when the scoring tasks can read ``frame``'s rows themselves
        (``frame`` is what ``read`` returned, nothing cast for the model), how, in batches of
        about ``batch_rows`` rows; None: Spark reads them."""
        return None

    def input_places(self) -> list[Place]:
        """Driver, before Spark starts: what the spec names as the input (nothing looked up),
        compared with the sink's outputs so that no output is written over an input."""
        return []

    def read_through(self) -> list[Place]:
        """Driver, before anything is read: further inputs only a service can tell (the tables
        a view reads); may call it, and answers [] when it cannot tell."""
        return []

    def check_options(self) -> None:  # noqa: B027 - a source without options of its own
        """Raise UserError for a bad option; runs on the driver before any SparkSession."""

    def expected_rows(self) -> int | None:
        """The rows the source expects to produce, once known (progress asks repeatedly)."""
        return self.estimated_rows

    def columns_with_nulls(self, spark: SparkSession, names: list[str]) -> set[str]:
        """Driver, after ``read``: which of ``names`` the source knows hold a NULL from its
        metadata alone (no data read); empty when it cannot tell."""
        return set()

    def cancel(self) -> None:  # noqa: B027 - most sources run nothing in the background
        """Stop background Spark jobs of the source (the run is failing)."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing
        """Release anything held for reading."""


def select_columns(
    available: list[str],
    features: list[str],
    passthrough: list[str],
    field: str,
    where: str = "the input",
    model_inputs: list[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Check the spec's columns against ``available``; return (passthrough, features).

    ``field`` is the spec path of the source (``gcsSource``), used in messages; ``where``
    names what was looked in (``table p.d.t``).
    Empty ``features`` means the ``model_inputs`` that are available (the model's signature
    check reports the missing ones) or, without them, every available column that is not
    passed through.
    """
    for kind, names in (("features", features), ("passthrough", passthrough)):
        for name in names:
            if name not in available:
                close = difflib.get_close_matches(name, available, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise UserError(
                    f"{field}.{kind}: column '{name}' does not exist in {where}.{hint}"
                    f" Columns: {', '.join(available)}."
                )
    if not features and model_inputs:
        chosen = [c for c in model_inputs if c in available and c not in passthrough]
        if not chosen:
            raise UserError(
                f"{field}.features: none of the inputs of the model's signature"
                f" ({', '.join(model_inputs)}) is a column of {where} that is not passed"
                f" through. Columns: {', '.join(available)}."
            )
        return list(passthrough), chosen
    chosen_features = features or [c for c in available if c not in passthrough]
    if not chosen_features:
        raise UserError(f"{field}.features: no feature columns left to give to the model.")
    return list(passthrough), list(chosen_features)
