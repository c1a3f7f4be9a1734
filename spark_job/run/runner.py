"""One job run: SaveMode check, source, model, sink, in that order; no CLI concerns here."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from spark_job.report.document import RunFacts
from spark_job.report.job_report import ReportOutcome, ReportPlan, report_wanted
from spark_job.run.input_guard import refuse_output_over_input
from spark_job.run.lifecycle import checkpoint, wait_for_tasks_to_end
from spark_job.run.model_input import fit_to_signature, predictions_of
from spark_job.run.partitioning import cluster_cores, spread
from spark_job.run.progress import ProgressReporter
from spark_job.run.reference import reference_places, score_reference
from spark_job.run.resume import resume_key, with_partitions
from spark_job.run.status import RunMeter
from spark_job.run.task_failures import unreadable_input, user_error_from_task
from spark_job.scoring.batching import BatchSize
from spark_job.scoring.model import ship_model
from spark_job.scoring.model_libraries import preload_modules
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import RowErrors
from spark_job.scoring.signature import ModelPlan, plan_model
from spark_job.scoring.warmup import WorkerWarmup, worker_environment
from spark_job.sinks import Finished, Sink, Skip, open_sink
from spark_job.sources import open_source
from spark_job.sources.base import SourceReader
from spark_job.spec import ErrorMode, JobSpec

log = logging.getLogger(__name__)
#: The summary's report part for a run whose earlier attempt was killed while publishing: the
#: statistics were gathered by that attempt's tasks, into its driver.
LOST_REPORT_NOTE = (
    "; report: not written (its statistics died with the attempt killed while publishing)"
)


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
    partitions_reused: int = 0  # staged by an earlier attempt of the run (same run id)
    partitions_total: int = 0
    resume_note: str = ""  # "resumed K of N partitions[: why none]"; '' on a first attempt
    report: str = ""  # the job report's HTML ('' when none was written; see report_note)
    report_json: str = ""
    drift: list[dict[str, Any]] = field(default_factory=list)  # the columns flagged
    failed_on_drift: bool = False  # report.failOnDrift and a column flagged: exit 3
    report_note: str = ""  # why the report is missing, when it should have been written

    def summary(self) -> str:
        if self.status == "SKIPPED":
            return f"skipped: {self.skip_reason}"
        resumed = f"; {self.resume_note}" if self.resume_note else ""
        report = f"; report: {self.report}" if self.report else self.report_note
        drifted = ", ".join(f"{d['column']} (PSI {d['psi']:.3f})" for d in self.drift)
        drift = f"; drift: {drifted}" if drifted else ""
        return (
            f"instances: {self.rows_predicted} succeeded, {self.rows_failed} failed;"
            f" rows written: {self.rows_written}, seconds: {self.seconds:.1f}"
            f" -> {self.destination}{resumed}{report}{drift}"
        )


def _finish_report(
    plan: ReportPlan, predictions: Predictions, facts: RunFacts, meter: RunMeter
) -> tuple[ReportOutcome | None, str]:
    """The report written once the results are published; a failure to write it does not
    undo them: it is logged and said in the summary."""
    meter.begin("report")
    try:
        stats = predictions.report.value if predictions.report is not None else None
        return plan.finish(stats, facts), ""
    except Exception as error:
        log.warning("the job report could not be written: %s", error, exc_info=True)
        return None, f"; report: not written ({type(error).__name__}: {error})"
    finally:
        meter.end()


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
    if isinstance(decision, Finished):  # the earlier attempt's rows were predicted there
        rows = decision.rows or 0
        return JobResult(
            status="COMPLETED", destination=sink.destination, rows_read=rows + decision.failed,
            rows_predicted=rows, rows_failed=decision.failed, rows_written=rows,
            seconds=time.monotonic() - started, resume_note=decision.note,
            report_note=LOST_REPORT_NOTE if report_wanted(spec) else "",
        )  # fmt: skip
    inputs = [*source.input_places(), *reference_places(spec)]
    report_plan = ReportPlan.for_spec(spec, inputs)  # its reference report read
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
            key = resume_key(spec, model_dir)  # the input as it is before it is read
            frame = source.read(spark, errors, count_rows=progress_interval > 0)
            frame = fit_to_signature(spark, frame, spec, plan, source)
            batch_size = BatchSize(spark, frame.schema)  # the model's input: see batching.py
            # The scoring tasks read the input themselves where the source can (no JVM rows)
            task_input = source.task_input(frame, batch_size.rows)
            if task_input is None:
                frame, tasks = spread(frame, cores)
            else:
                tasks = task_input.tasks
            key = with_partitions(key, tasks)
            predictions = predictions_of(
                frame, spec, shipped.name, rows_predicted, errors, source.input_files, plan.result,
                plan.params,
            )  # fmt: skip
            if task_input is not None:
                predictions = predictions.read_in_tasks(task_input.frame(spark), task_input.read)
            if report_plan is not None:  # gathered by the tasks as they score
                collector = report_plan.collector(
                    spark, predictions.columns.features, predictions.columns.result_columns
                )
                predictions = replace(predictions, report=collector)
            if report_plan is not None and spec.report.reference_data is not None:
                meter.begin("reference")  # scored before any result is staged
                scored = score_reference(spark, spec, plan, shipped.name, sink, cores,
                                         predictions.columns.features)  # fmt: skip
                document = scored.document(job_name, run_id, spec.model.uri)
                report_plan = report_plan.with_reference(document, scored.where)
                meter.begin("prepare")
            checkpoint()
            meter.begin("predict")
            reporter = ProgressReporter(
                spark.sparkContext, rows_predicted, source.expected_rows, progress_interval,
                failed=lambda: errors.failed,
            )  # fmt: skip
            with reporter:
                staged = sink.stage(predictions, key)
        checkpoint()  # stopped by SIGTERM: abort instead of publishing
        meter.begin("publish")
        report = errors.check(rows_predicted.value)  # raises when too many instances failed
        written = sink.publish(staged, report)
        meter.end()
    except (PySparkException, Py4JJavaError) as error:
        _stop_tasks(spark, warmup, source)
        sink.abort()
        found = user_error_from_task(error) or unreadable_input(error, spec.source_field)
        raise found or error from None
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
    resumed = staged.resumed
    predicted = rows_predicted.value + resumed.rows  # rows of reused parts were predicted
    failed = errors.failed
    rows_written = predicted if written is None else written
    outcome, report_note = None, ""
    if report_plan is not None:
        rows = {"read": predicted + failed, "predicted": predicted, "failed": failed,
                "written": rows_written}  # fmt: skip
        failures = {kind: int(s["count"]) for kind, s in errors.stats.items()}
        stages = {**meter.stage_seconds, "total": meter.total_seconds()}
        facts = RunFacts(job_name, run_id, sink.destination, spec.model.uri, rows, stages,
                         failures)  # fmt: skip
        outcome, report_note = _finish_report(report_plan, predictions, facts, meter)
    return JobResult(
        status="COMPLETED",
        destination=sink.destination,
        rows_read=predicted + failed,
        rows_predicted=predicted,
        rows_failed=failed,
        rows_written=rows_written,
        seconds=time.monotonic() - started,
        stage_seconds=dict(meter.stage_seconds),
        partitions_reused=resumed.reused,
        partitions_total=resumed.total,
        resume_note=resumed.note,
        report=outcome.html_uri if outcome else "",
        report_json=outcome.json_uri if outcome else "",
        drift=outcome.flagged if outcome else [],
        failed_on_drift=outcome.failed_on_drift if outcome else False,
        report_note=report_note,
    )
