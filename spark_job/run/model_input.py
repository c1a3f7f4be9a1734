"""The job's input made ready for the model: checked against its signature and mapped by it.

Shared by the job's own input (:func:`spark_job.run.runner.run_job`) and by a reference scored
the same way (:mod:`spark_job.run.reference`).
"""

from __future__ import annotations

from typing import Any

from pyspark.accumulators import Accumulator
from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.scoring.arrow_input import arrow_convertible
from spark_job.scoring.arrow_scorer import ArrowScorer
from spark_job.scoring.predictions import OutputColumns, Predictions, predictions_schema
from spark_job.scoring.result_types import resolve_result
from spark_job.scoring.results import result_fields
from spark_job.scoring.row_errors import ORIGIN_COLUMNS, RowErrors
from spark_job.scoring.signature import ModelPlan
from spark_job.sources.base import SourceReader
from spark_job.spec import JobSpec, ModelResult


def predictions_of(
    frame: DataFrame,
    spec: JobSpec,
    shipped_name: str,
    rows_predicted: Accumulator[int],
    errors: RowErrors,
    input_files: tuple[str, ...] = (),
    result: ModelResult | None = None,
    params: dict[str, Any] | None = None,
) -> Predictions:
    """The model over ``frame`` (passthrough + features + hidden origin columns), still to
    compute: every sink gets this one value (see :mod:`spark_job.scoring.predictions`).
    ``input_files`` are the files the origin columns index, for error messages; ``result`` the
    resolved ``model.result`` (default: the spec's, which must then be concrete); ``params``
    what ``predict`` gets (``ModelPlan.params``)."""
    result = result or resolve_result(spec.model.result, None)
    unreadable = [f for f in frame.schema.fields if not arrow_convertible(f.dataType)]
    if unreadable:
        names = ", ".join(f"'{f.name}' ({f.dataType.simpleString()})" for f in unreadable)
        raise UserError(
            f"{spec.source_field}: column(s) {names} have no Arrow form, so no Python model can"
            " be given them; leave them out of features and passthrough, or cast them in a view."
        )
    passthrough = list(spec.source.passthrough)
    origin = [c for c in frame.columns if c in ORIGIN_COLUMNS]
    features = [c for c in frame.columns if c not in passthrough and c not in origin]
    name = spec.sink.result_column
    result_columns = result_fields(result, name)
    columns = OutputColumns(passthrough, features, name, tuple(f.name for f in result_columns))
    keep = [*passthrough, *features]
    scorer = ArrowScorer.for_frame(
        frame,
        shipped_name=shipped_name,
        features=features,
        result=result,
        result_column=name,
        rows_predicted=rows_predicted,
        policy=errors.task_view(input_files),
        origin=origin,
        keep=keep,
        params=params,
    )
    return Predictions(frame, scorer, predictions_schema(frame, keep, result_columns), columns)


def fit_to_signature(
    spark: SparkSession, frame: DataFrame, spec: JobSpec, plan: ModelPlan, source: SourceReader
) -> DataFrame:
    """``frame`` checked against the model's signature and converted for it (UserError listing
    every mismatch), before any task scores. An input known to be empty is not compared: a
    reader that found no instance guesses its columns' types."""
    if source.estimated_rows == 0:
        return frame
    passthrough = list(spec.source.passthrough)
    features = [c for c in frame.columns if c not in passthrough and c not in ORIGIN_COLUMNS]
    return plan.check_input(
        frame, features, spec.source_field, spec.model.typed_options.cast_inputs,
        lambda names: source.columns_with_nulls(spark, names), passthrough,
    )  # fmt: skip
