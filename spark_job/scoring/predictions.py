"""The job's predictions as one value: the input, the scorer that maps it, the output's schema.

Nothing is computed when a :class:`Predictions` is made. The model always runs in the task that
consumes the input's Arrow batches, through :attr:`Predictions.transform` (an
:class:`~spark_job.scoring.arrow_scorer.ArrowScorer`, then an optional :class:`Layout`):

- a sink that writes from its own Python tasks applies ``transform`` there
  (:func:`spark_job.sinks.stager.stage_partitions`), so each task reads, scores and encodes its
  partition — no rows go back to the JVM;
- any other writer (Spark's file writers, the spark-bigquery connector) reads :meth:`frame`,
  the same transform through ``mapInArrow``.

Either way the rows, the failed-row policy and the counters are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import StructField, StructType

from spark_job.report.collector import ReportCollector
from spark_job.scoring.arrow_scorer import ArrowScorer


@dataclass(frozen=True)
class OutputColumns:
    """The columns of the predictions, by role. ``result`` is the result column's name;
    ``results`` the columns it is written as (itself, or one per field when flattened)."""

    passthrough: list[str]
    features: list[str]
    result: str
    results: tuple[str, ...] = ()

    @property
    def result_columns(self) -> list[str]:
        return list(self.results or (self.result,))

    @property
    def all(self) -> list[str]:
        return [*self.passthrough, *self.features, *self.result_columns]


@dataclass(frozen=True)
class Layout:
    """Output columns renamed, reordered, or added as NULLs after scoring (e.g. to follow an
    existing table's columns). ``columns`` pairs each output field with the scored column it
    takes (None: a NULL column of the field's type)."""

    columns: tuple[tuple[str | None, StructField], ...]

    @property
    def schema(self) -> StructType:
        return StructType([target for _, target in self.columns])

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        names = [target.name for _, target in self.columns]
        null_types = {
            target.name: to_arrow_type(target.dataType)
            for source, target in self.columns
            if source is None
        }
        for batch in batches:
            arrays = [
                batch.column(source)
                if source is not None
                else pa.nulls(batch.num_rows, null_types[target.name])
                for source, target in self.columns
            ]
            yield pa.RecordBatch.from_arrays(arrays, names=names)


#: A task's own read of its input: its partition numbers in, the input's batches out.
TaskRead = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class TaskTransform:
    """What a task applies to its input batches: score, then lay out. Picklable (it holds no
    DataFrame), so it can be shipped to executors on its own. With ``report``, the features
    going in and the results coming out are counted for the job report on the way."""

    scorer: ArrowScorer
    layout: Layout | None = None
    report: ReportCollector | None = None
    #: the task's own read of its input (see :meth:`Predictions.read_in_tasks`)
    read: TaskRead | None = None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if self.read is not None:
            batches = self.read(batches)
        if self.report is not None:
            scored = self.report.observe(batches, self.scorer)
        else:
            scored = self.scorer(batches)
        return self.layout(scored) if self.layout is not None else scored


@dataclass(frozen=True)
class Predictions:
    """Predictions still to compute: ``source`` mapped by :attr:`transform` has ``schema``."""

    source: DataFrame
    scorer: ArrowScorer
    schema: StructType
    columns: OutputColumns
    layout: Layout | None = field(default=None)
    #: the job report's statistics, gathered as the tasks score (None: no report)
    report: ReportCollector | None = field(default=None)
    #: Set by :meth:`read_in_tasks`: each task reads its input itself, ``source`` is then only
    #: the tasks' frame and ``input`` the input frame that ``read`` produces.
    read: TaskRead | None = field(default=None)
    input: DataFrame | None = field(default=None)

    @property
    def transform(self) -> TaskTransform:
        return TaskTransform(self.scorer, self.layout, self.report, self.read)

    @property
    def input_schema(self) -> StructType:
        """The schema of the input rows the model is given (passthrough, features, origin)."""
        return (self.input if self.input is not None else self.source).schema

    def read_in_tasks(self, tasks: DataFrame, read: TaskRead) -> Predictions:
        """The same predictions, each task reading its share of the input itself: ``tasks``
        has one row per partition (the partition's number), which ``read`` turns into the
        input's batches inside the task (see ``SourceReader.task_read``)."""
        return replace(self, source=tasks, read=read, input=self.source)

    def frame(self) -> DataFrame:
        """The predictions as a DataFrame (the model scoring inside ``mapInArrow``)."""
        return self.source.mapInArrow(self.transform, self.schema)

    def select(self, kept: Sequence[str]) -> Predictions:
        """The same predictions with only the input columns ``kept`` before the result."""
        fields = {f.name: f for f in self.schema.fields}
        schema = StructType([fields[name] for name in [*kept, *self.columns.result_columns]])
        return replace(self, scorer=self.scorer.keeping(kept), schema=schema)

    def laid_out(self, columns: Sequence[tuple[str | None, StructField]]) -> Predictions:
        """The same predictions, their columns as ``columns`` say (see :class:`Layout`)."""
        layout = Layout(tuple(columns))
        return replace(self, layout=layout, schema=layout.schema)


def predictions_schema(
    frame: DataFrame, keep: Sequence[str], results: Sequence[StructField]
) -> StructType:
    """The schema of the ``keep`` columns of ``frame`` and the ``results`` column(s)."""
    fields = {f.name: f for f in frame.schema.fields}
    return StructType([*(fields[c] for c in keep), *results])
