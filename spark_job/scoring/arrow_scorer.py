"""Scoring Arrow batches: the model applied inside the task that reads or writes them.

The job's one scoring path. A pandas-UDF column would make the JVM keep every input row, send
the features to Python, read the predictions back and join them to the rows before its own
writer encodes them: per-row work in the JVM that costs more than the model for cheap models
(it was the job's second path until every type below was taken here). :class:`ArrowScorer`
instead maps Arrow batches to Arrow batches — input columns kept as they came, the result
column appended, failed rows dropped — so a sink that writes from Python scores and encodes in
the same task (see :mod:`spark_job.scoring.predictions`), and any other sink reads the scored
batches through ``mapInArrow``.

It hands the model the frame a pandas UDF would hand it, for features of any type Spark moves
as Arrow (see :mod:`spark_job.scoring.arrow_input`; the parity is pinned by
``tests/test_scoring_types.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
from pyspark.accumulators import Accumulator
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame

from spark_job.scoring.arrow_input import FeatureConverters, arrow_convertible, feature_frame
from spark_job.scoring.model import WithParams, load_shipped_model, score_batch
from spark_job.scoring.results import result_arrays, result_arrow_type
from spark_job.scoring.row_errors import TaskErrors, TaskPolicy
from spark_job.spec import ModelResult


def arrow_scoring_supported(frame: DataFrame, features: Sequence[str]) -> bool:
    """Whether ``frame`` can be scored on ``features`` through ``mapInArrow``.

    ``mapInArrow`` hands the task every column of ``frame``, so each must have an Arrow form:
    not a YEAR TO MONTH interval (pyarrow cannot open a batch holding one), nor a calendar
    interval (PySpark has no Arrow type for it; sources cannot hold one anyway). A pandas UDF
    cannot take either as a feature, so refusing them loses no model input.
    """
    if not all(arrow_convertible(f.dataType) for f in frame.schema.fields):
        return False
    try:
        FeatureConverters.for_frame(frame, features)
    except PySparkException:  # e.g. a struct with duplicated field names, as the UDF refuses
        return False
    return True


@dataclass(frozen=True)
class ArrowScorer:
    """Arrow batches of the input in, batches of ``keep`` + the result column out."""

    shipped_name: str
    features: list[str]
    converters: FeatureConverters
    result: ModelResult
    result_column: str
    rows_predicted: Accumulator[int]
    policy: TaskPolicy | None
    origin: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    #: ``predict``'s params (None: called without)
    params: dict[str, Any] | None = None

    @classmethod
    def for_frame(cls, frame: DataFrame, **fields: Any) -> ArrowScorer:
        """The scorer of ``frame`` (the other fields given by name), its converters built
        from ``frame``'s schema and session time zone."""
        converters = FeatureConverters.for_frame(frame, fields["features"])
        return cls(converters=converters, **fields)

    def keeping(self, columns: Sequence[str]) -> ArrowScorer:
        """This scorer, passing on only ``columns`` of the input."""
        return replace(self, keep=list(columns))

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = load_shipped_model(self.shipped_name)
        if self.params is not None:
            model = WithParams(model, self.params)
        errors = TaskErrors.for_policy(self.policy)
        arrow_type = result_arrow_type(self.result)
        for batch in batches:
            errors.instances = batch  # a failed instance's record holds its input columns
            frame = feature_frame(batch, self.features, self.converters)
            origin = [batch.column(name).to_pandas() for name in self.origin]
            values, ok = score_batch(model, frame, origin, self.policy, self.result, errors)
            kept = batch.select(self.keep)
            if ok is not None:
                kept = kept.filter(pa.array(ok))
                values = values[ok]
            self.rows_predicted.add(kept.num_rows)
            for name, array in result_arrays(values, self.result, self.result_column, arrow_type):
                kept = kept.append_column(name, array)
            yield kept
        errors.close()  # the task's error records, if any, put and reported
