"""One job run: SaveMode check, source, model, sink, in that order; no CLI concerns here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.accumulators import Accumulator
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.run.input_guard import refuse_output_over_input
from spark_job.run.lifecycle import checkpoint, wait_for_tasks_to_end
from spark_job.run.partitioning import cluster_cores, spread
from spark_job.run.progress import ProgressReporter
from spark_job.run.status import RunMeter
from spark_job.run.task_failures import user_error_from_task
from spark_job.scoring.arrow_input import arrow_convertible
from spark_job.scoring.arrow_scorer import ArrowScorer
from spark_job.scoring.batching import BatchSize
from spark_job.scoring.model import ship_model
from spark_job.scoring.model_libraries import preload_modules
from spark_job.scoring.predictions import OutputColumns, Predictions, predictions_schema
from spark_job.scoring.result_types import resolve_result
from spark_job.scoring.results import result_fields
from spark_job.scoring.row_errors import ORIGIN_COLUMNS, RowErrors
from spark_job.scoring.signature import ModelPlan, plan_model
from spark_job.scoring.warmup import WorkerWarmup, worker_environment
from spark_job.sinks import Sink, Skip, open_sink
from spark_job.sources import open_source
from spark_job.sources.base import SourceReader
from spark_job.spec import ErrorMode, JobSpec, ModelResult


@dataclass
class JobResult:
    status: str  # COMPLETED or SKIPPED
    destination: str
    rows_read: int = 0
    rows_predicted: int = 0
    rows_failed: int = 0
    rows_written: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    skip_reason: str = ""

    def summary(self) -> str:
        if self.status == "SKIPPED":
            return f"skipped: {self.skip_reason}"
        return (
            f"instances: {self.rows_predicted} succeeded, {self.rows_failed} failed;"
            f" rows written: {self.rows_written}, seconds: {self.seconds:.1f}"
            f" -> {self.destination}"
        )


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


def _stop_tasks(spark: SparkSession, warmup: WorkerWarmup | None, source: SourceReader) -> None:
    """Cancel background jobs, wait for running tasks: none may write into staging after."""
    if warmup is not None:
        warmup.stop()
    source.cancel()
    wait_for_tasks_to_end(spark.sparkContext)


def run_job(
    spark: SparkSession,
    spec: JobSpec,
    job_name: str,
    run_id: str,
    progress_interval: float = 0.0,
    meter: RunMeter | None = None,
    *,
    sink: Sink | None = None,
    source: SourceReader | None = None,
    plan: ModelPlan | None = None,
) -> JobResult:
    """Run ``spec`` on ``spark``; raise UserError for the user's mistakes.

    The steps: the model resolved and its signature read (the plan), no output over an input
    (a view's base tables looked up; see :mod:`spark_job.run.input_guard`), the sink's SaveMode
    (``prepare``), the model shipped, the input read and fitted to the signature, the
    predictions staged by the executors, a checkpoint (SIGTERM stops the run here, never
    publishing), the row errors judged (``errorHandling.maxErrorRatio``), publish.
    ``progress_interval`` > 0 prints a progress line at most that often while predicting.
    ``meter`` receives seconds per stage and live row counters as the run goes (for the
    status of a run that fails or is stopped). ``sink``, ``source`` and ``plan`` (the model
    and its signature), when given, are the ones :func:`spark_job.run.preflight.preflight`
    built from ``spec``; else built here.
    """
    started = time.monotonic()
    meter = meter or RunMeter()
    meter.begin("prepare")
    sink = sink or open_sink(spec, job_name, run_id)
    plan = plan or plan_model(spec.model)
    source = source or open_source(spec, plan.signature_features)
    recording = spec.error_handling.mode is ErrorMode.RECORD_AND_CONTINUE
    refuse_output_over_input(sink, source, recording, look_up=True)
    decision = sink.prepare(spark)
    if isinstance(decision, Skip):
        return JobResult(
            status="SKIPPED", destination=sink.destination, skip_reason=decision.reason
        )
    model_dir = plan.model_dir
    rows_predicted = spark.sparkContext.accumulator(0)
    # RECORD_AND_CONTINUE: the sink says where failed instances are written whole
    records = sink.records_target() if recording else None
    errors = RowErrors.create(spark, spec.error_handling, spec.source_field, records)
    meter.count("rows_predicted", lambda: rows_predicted.value)
    meter.count("rows_failed", lambda: errors.failed)
    meter.count("rows_read", lambda: rows_predicted.value + errors.failed)
    warmup: WorkerWarmup | None = None
    batch_size: BatchSize | None = None
    try:
        with worker_environment(spark, preload_modules(model_dir)):
            checkpoint()
            cores = cluster_cores(spark)
            shipped = ship_model(spark, model_dir)
            # Executors load the model while the driver plans the input.
            warmup = WorkerWarmup(spark, shipped.name, cores).start()
            frame = source.read(spark, errors, count_rows=progress_interval > 0)
            frame = spread(fit_to_signature(spark, frame, spec, plan, source), cores)
            batch_size = BatchSize(spark, frame.schema)  # the model's input: see batching.py
            predictions = predictions_of(
                frame, spec, shipped.name, rows_predicted, errors, source.input_files, plan.result,
                plan.params,
            )  # fmt: skip
            checkpoint()
            meter.begin("predict")
            reporter = ProgressReporter(
                spark.sparkContext, rows_predicted, source.expected_rows, progress_interval,
                failed=lambda: errors.failed,
            )  # fmt: skip
            with reporter:
                staged = sink.stage(predictions)
        checkpoint()  # stopped by SIGTERM: abort instead of publishing
        meter.begin("publish")
        report = errors.check(rows_predicted.value)  # raises when too many instances failed
        written = sink.publish(staged, report)
        meter.end()
    except PySparkException as error:
        _stop_tasks(spark, warmup, source)
        sink.abort()
        raise user_error_from_task(error) or error from None
    except BaseException:
        _stop_tasks(spark, warmup, source)
        sink.abort()
        raise
    finally:
        if warmup is not None:
            warmup.stop()
        if batch_size is not None:
            batch_size.restore()
        source.close()
    predicted = rows_predicted.value
    failed = errors.failed
    return JobResult(
        status="COMPLETED",
        destination=sink.destination,
        rows_read=predicted + failed,
        rows_predicted=predicted,
        rows_failed=failed,
        rows_written=predicted if written is None else written,
        seconds=time.monotonic() - started,
        stage_seconds=dict(meter.stage_seconds),
    )
