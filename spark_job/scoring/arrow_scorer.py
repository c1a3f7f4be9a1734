"""Scoring Arrow batches: the model applied inside the task that reads or writes them.

The pandas-UDF column (:func:`spark_job.scoring.model.prediction_column`) makes the JVM keep every
input row, send the features to Python, read the predictions back and join them to the rows
before its own writer encodes them: per-row work in the JVM that costs more than the model
for cheap models. :class:`ArrowScorer` instead maps Arrow batches to Arrow batches — input
columns kept as they came, the result column appended, failed rows dropped — so a sink that
writes from Python (Parquet, Avro, JSON and CSV files) scores and encodes in the same task
(see :func:`spark_job.sinks.partition_files.stage_partitions`), and any other sink reads the
scored batches through ``mapInArrow``.

It takes features of the types whose pandas form is the same as a pandas UDF's (numbers,
booleans, strings, dates); the runner uses the pandas UDF for any other input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import pyarrow as pa
from pyspark.accumulators import Accumulator
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    DateType,
    NumericType,
    StringType,
    StructField,
    StructType,
)

from spark_job.scoring.model import load_shipped_model, model_input, score_batch
from spark_job.scoring.results import result_spark_type
from spark_job.scoring.row_errors import TaskErrors, TaskPolicy
from spark_job.spec import ModelResult

#: Feature types whose Arrow → pandas conversion matches Spark's for a pandas UDF.
_PLAIN_TYPES = (NumericType, BooleanType, StringType, BinaryType, DateType)


def arrow_scoring_supported(frame: DataFrame, features: Sequence[str]) -> bool:
    types = {f.name: f.dataType for f in frame.schema.fields}
    return all(isinstance(types[name], _PLAIN_TYPES) for name in features)


@dataclass(frozen=True)
class ArrowScorer:
    """Arrow batches of the input in, batches of ``keep`` + the result column out."""

    shipped_name: str
    features: list[str]
    datetime_features: frozenset[str]
    result: ModelResult
    result_column: str
    rows_predicted: Accumulator[int]
    policy: TaskPolicy | None
    origin: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    def keeping(self, columns: Sequence[str]) -> ArrowScorer:
        """This scorer, passing on only ``columns`` of the input."""
        return replace(self, keep=list(columns))

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = load_shipped_model(self.shipped_name)
        errors = TaskErrors(self.policy.accumulator if self.policy else None)
        result_type = to_arrow_type(result_spark_type(self.result))
        for batch in batches:
            columns = [batch.column(name).to_pandas(date_as_object=True) for name in self.features]
            frame = model_input(columns, self.features, self.datetime_features)
            origin = [batch.column(name).to_pandas() for name in self.origin]
            values, ok = score_batch(model, frame, origin, self.policy, self.result, errors)
            kept = batch.select(self.keep)
            if ok is not None:
                kept = kept.filter(pa.array(ok))
                values = values[ok]
            self.rows_predicted.add(kept.num_rows)
            yield kept.append_column(
                self.result_column, pa.array(_plain(values), type=result_type, from_pandas=True)
            )


def _plain(values: pd.Series) -> Any:
    """Values pyarrow converts directly: numpy for numbers, lists for objects."""
    return values.to_numpy() if values.dtype != object else values.tolist()


@dataclass(frozen=True)
class Scored:
    """Predictions still to compute: ``source`` mapped by ``transform`` has ``schema``.

    A sink that writes from its own tasks applies ``transform`` there; any other sink reads
    :meth:`frame`.
    """

    source: DataFrame
    scorer: ArrowScorer
    schema: StructType

    def frame(self) -> DataFrame:
        return self.source.mapInArrow(self.scorer, self.schema)

    def select(self, columns: Sequence[str]) -> Scored:
        """The same predictions with only ``columns`` (the result column last)."""
        *kept, result = columns
        fields = {f.name: f for f in self.schema.fields}
        schema = StructType([fields[name] for name in [*kept, result]])
        return Scored(self.source, self.scorer.keeping(kept), schema)


def scored_schema(
    frame: DataFrame, keep: Sequence[str], result: ModelResult, name: str
) -> StructType:
    """The schema of ``keep`` columns of ``frame`` and the result column ``name``."""
    fields = {f.name: f for f in frame.schema.fields}
    result_field = StructField(name, result_spark_type(result), nullable=True)
    return StructType([*(fields[c] for c in keep), result_field])
