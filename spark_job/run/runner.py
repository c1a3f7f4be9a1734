"""One job run: SaveMode check, source, model, sink, in that order; no CLI concerns here."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from pyspark.accumulators import Accumulator
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DateType

from spark_job.errors import UserError
from spark_job.run.lifecycle import checkpoint, wait_for_tasks_to_end
from spark_job.run.partitioning import cluster_cores, spread
from spark_job.run.progress import ProgressReporter
from spark_job.run.status import RunMeter
from spark_job.scoring.arrow_scorer import (
    ArrowScorer,
    Scored,
    arrow_scoring_supported,
    scored_schema,
)
from spark_job.scoring.batching import BatchSize
from spark_job.scoring.model import ShippedModel, keep_predicted, prediction_column, ship_model
from spark_job.scoring.model_libraries import preload_modules
from spark_job.scoring.model_store import resolve_model
from spark_job.scoring.row_errors import ORIGIN_COLUMNS, ErrorReport, RowErrors
from spark_job.scoring.warmup import WorkerWarmup, worker_environment
from spark_job.sinks import OutputColumns, SinkWriter, open_sink
from spark_job.sources import open_source
from spark_job.sources.base import SourceReader
from spark_job.spec import JobSpec


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
            f"rows in: {self.rows_read}, rows out: {self.rows_written},"
            f" failed: {self.rows_failed}, seconds: {self.seconds:.1f} -> {self.destination}"
        )


_MODEL_OUTPUT_ERROR = re.compile(r"(?:ModelOutputError|BadInputError): (.+)")


def user_error_from_task(error: Exception) -> UserError | None:
    """A task failure caused by a user's mistake (model output vs spec, an unreadable input
    instance under FAIL_FAST), as a UserError."""
    match = _MODEL_OUTPUT_ERROR.search(str(error))
    return UserError(match.group(1).strip()) if match else None


def _datetime_features(frame: DataFrame, features: list[str]) -> set[str]:
    types = {f.name: f.dataType for f in frame.schema.fields}
    return {name for name in features if isinstance(types[name], DateType)}


def _arrow_scored(
    frame: DataFrame,
    spec: JobSpec,
    shipped_name: str,
    features: list[str],
    origin: list[str],
    rows_predicted: Accumulator[int],
    errors: RowErrors,
) -> Scored | None:
    """The predictions as Arrow batches scored in the tasks (the fast path), or None when a
    feature's type needs the pandas UDF's conversion."""
    if not arrow_scoring_supported(frame, features):
        return None
    keep = [*spec.source.passthrough, *features]
    result_column = spec.sink.result_column
    scorer = ArrowScorer(
        shipped_name=shipped_name,
        features=features,
        datetime_features=frozenset(_datetime_features(frame, features)),
        result=spec.model.result,
        result_column=result_column,
        rows_predicted=rows_predicted,
        policy=errors.task_view(),
        origin=origin,
        keep=keep,
    )
    return Scored(frame, scorer, scored_schema(frame, keep, spec.model.result, result_column))


def _pandas_udf_predictions(
    frame: DataFrame,
    spec: JobSpec,
    shipped: ShippedModel,
    features: list[str],
    origin: list[str],
    rows_predicted: Accumulator[int],
    errors: RowErrors,
) -> DataFrame:
    """The predictions through a pandas UDF column, for features of any Spark type."""
    passthrough = list(spec.source.passthrough)
    result_column = spec.sink.result_column
    prediction = prediction_column(
        shipped,
        features,
        _datetime_features(frame, features),
        spec.model.result,
        rows_predicted,
        *[frame[name] for name in features],
        policy=errors.task_view(),
        origin=[frame[name] for name in origin],
    )
    if errors.record_and_continue:
        scored = frame.select(*passthrough, *features, prediction.alias("__spark_job_scored"))
        kept = [*passthrough, *features]
        return keep_predicted(scored, kept, "__spark_job_scored", result_column)
    return frame.select(*passthrough, *features, prediction.alias(result_column))


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
    sink: SinkWriter | None = None,
    source: SourceReader | None = None,
) -> JobResult:
    """Run ``spec`` on ``spark``; raise UserError for the user's mistakes.

    ``progress_interval`` > 0 prints a progress line at most that often while predicting.
    ``meter`` receives seconds per stage and live row counters as the run goes (for the
    status of a run that fails or is stopped). After SIGTERM the run stops at its next
    checkpoint (:func:`spark_job.run.lifecycle.checkpoint`), never publishing.
    ``sink`` and ``source``, when given, are the ones :func:`spark_job.run.preflight.preflight`
    built from ``spec``; else they are built here.
    """
    started = time.monotonic()
    meter = meter or RunMeter()
    meter.begin("prepare")
    sink = sink or open_sink(spec, job_name, run_id)
    if not sink.prepare(spark):
        return JobResult(
            status="SKIPPED", destination=sink.destination, skip_reason=sink.skip_reason
        )
    model_dir = resolve_model(spec.model.uri)
    source = source or open_source(spec)
    rows_predicted = spark.sparkContext.accumulator(0)
    errors = RowErrors.create(spark, spec.error_handling, spec.source_field)
    meter.count("rows_predicted", lambda: rows_predicted.value)
    meter.count("rows_failed", lambda: errors.failed)
    meter.count("rows_read", lambda: rows_predicted.value + errors.failed)
    source.row_errors = errors
    source.wants_row_count = progress_interval > 0
    checked: list[ErrorReport | None] = []

    def judge_errors() -> ErrorReport | None:
        """Fail if too many instances failed."""
        checked.append(errors.check(rows_predicted.value))
        return checked[-1]

    def check_errors() -> ErrorReport | None:
        """Between staging and publishing: stop if SIGTERM came, judge the errors."""
        checkpoint()  # stopped by SIGTERM: abort instead of publishing
        meter.begin("publish")
        return judge_errors()

    sink.on_staged = check_errors
    sink.drops_failed_rows = errors.record_and_continue
    warmup: WorkerWarmup | None = None
    batch_size: BatchSize | None = None
    try:
        with worker_environment(spark, preload_modules(model_dir)):
            checkpoint()
            cores = cluster_cores(spark)
            shipped = ship_model(spark, model_dir)
            # Executors load the model while the driver plans the input.
            warmup = WorkerWarmup(spark, shipped.name, cores).start()
            frame = spread(source.read(spark), cores)
            batch_size = BatchSize(spark, frame.schema)  # the model's input: see batching.py
            passthrough = list(spec.source.passthrough)
            origin = [c for c in frame.columns if c in ORIGIN_COLUMNS]
            features = [c for c in frame.columns if c not in passthrough and c not in origin]
            result_column = spec.sink.result_column
            scored = _arrow_scored(
                frame, spec, shipped.name, features, origin, rows_predicted, errors
            )
            if scored is not None:
                predictions = scored.frame()
            else:
                predictions = _pandas_udf_predictions(
                    frame, spec, shipped, features, origin, rows_predicted, errors
                )
            columns = OutputColumns(passthrough, features, result_column)
            checkpoint()
            meter.begin("predict")
            reporter = ProgressReporter(
                spark.sparkContext, rows_predicted, source.expected_rows, progress_interval
            )
            with reporter:
                written = sink.write(predictions, columns, scored)
        if not checked:  # a sink that does not call staged(): judge the errors after all
            judge_errors()
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
