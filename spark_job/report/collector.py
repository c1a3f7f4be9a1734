"""The report's statistics gathered in the scoring tasks, in the same pass as the model.

:class:`ReportCollector` is picklable and shipped with the task's transform
(:class:`spark_job.scoring.predictions.TaskTransform`). A task counts the feature columns of
the batches the model is given and the result column(s) of the batches it returns, on whole
Arrow arrays, and adds its partial statistics to a Spark accumulator once, when its last batch
has gone out.

Spark applies an accumulator update only for a task attempt that succeeded, so a failed
attempt's partial statistics are dropped. A partition computed twice by successful tasks (a
stage run again, a speculative twin, a persisted frame recomputed) reports twice:
:class:`ReportParam` keeps the first report of each partition and drops the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.accumulators import Accumulator, AccumulatorParam

from spark_job.report.stats import ColumnStats, merge_columns, observe


@dataclass
class PartialReport:
    """Statistics of some partitions: the features as given to the model, the result columns
    as returned (a STRUCT result per field, ``prediction.label``; an ARRAY result's items as
    ``prediction[]``)."""

    partitions: set[int] = field(default_factory=set)
    features: dict[str, ColumnStats] = field(default_factory=dict)
    prediction: dict[str, ColumnStats] = field(default_factory=dict)

    def merge(self, other: PartialReport) -> PartialReport:
        if other.partitions & self.partitions:
            return self  # a partition already counted (see the module docstring)
        self.partitions |= other.partitions
        merge_columns(self.features, other.features)
        merge_columns(self.prediction, other.prediction)
        return self


class ReportParam(AccumulatorParam[PartialReport]):
    def zero(self, value: PartialReport) -> PartialReport:
        return PartialReport()

    def addInPlace(  # noqa: N802 - Spark's name
        self, value1: PartialReport, value2: PartialReport
    ) -> PartialReport:
        return value1.merge(value2)


def _result_arrays(name: str, array: pa.Array) -> Iterator[tuple[str, pa.Array]]:
    """The arrays counted for a result column: itself, a struct's fields, a list's items."""
    if pa.types.is_struct(array.type):
        for index in range(array.type.num_fields):
            child = pc.struct_field(array, [index])
            yield from _result_arrays(f"{name}.{array.type.field(index).name}", child)
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        yield f"{name}[]", pc.list_flatten(array)
    else:
        yield name, array


@dataclass(frozen=True)
class ReportCollector:
    """What a task needs to gather the report: the accumulator and the column names."""

    accumulator: Accumulator[PartialReport]
    features: tuple[str, ...]
    results: tuple[str, ...]

    @classmethod
    def create(cls, spark: Any, features: list[str], results: list[str]) -> ReportCollector:
        """Driver: a collector with a new accumulator."""
        accumulator = spark.sparkContext.accumulator(PartialReport(), ReportParam())
        return cls(accumulator, tuple(features), tuple(results))

    @property
    def value(self) -> PartialReport:
        """Driver: what the successful tasks reported."""
        return self.accumulator.value

    def observe(
        self,
        batches: Iterator[pa.RecordBatch],
        score: Any,
    ) -> Iterator[pa.RecordBatch]:
        """Task: ``score(batches)`` with the features of its input and the results of its
        output counted; the task's statistics added once its output is exhausted."""
        from pyspark import TaskContext

        context = TaskContext.get()
        part = PartialReport({context.partitionId() if context else 0})

        def inputs() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                for name in self.features:
                    observe(part.features, name, batch.column(name), with_top=False)
                yield batch

        for batch in score(inputs()):
            for name in self.results:
                for label, array in _result_arrays(name, batch.column(name)):
                    observe(part.prediction, label, array, with_top=True)
            yield batch
        self.accumulator.add(part)
