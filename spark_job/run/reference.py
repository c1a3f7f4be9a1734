"""``report.reference`` as data: files or a table scored the same way as the job's input.

The reference source is read, fitted to the model's signature and scored by the same shipped
model in the same job, with a report collector, exactly as the job's input is; its rows are
then dropped (Spark's ``noop`` writer: nothing is written anywhere). Its statistics make a
document of the shape of a report.json, which :func:`spark_job.report.drift.compare` takes as
the reference. This runs after the job's input is planned (its features are the reference's
default) and before any result is staged, so a bad reference is a user error with nothing
written.

The reference is an input too: no output of the job (the sink's, ``report.path``) may be, hold
or lie inside it. Messages of the code shared with the job's own source name
``gcsSource``/``bigquerySource``; here they name ``report.reference.gcsSource`` etc.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.report.collector import PartialReport, ReportCollector
from spark_job.report.document import RunFacts, build_report
from spark_job.run.input_guard import refuse_output_over_input
from spark_job.run.model_input import fit_to_signature, predictions_of
from spark_job.run.partitioning import spread
from spark_job.run.task_failures import unreadable_input, user_error_from_task
from spark_job.scoring.batching import BatchSize
from spark_job.scoring.row_errors import RowErrors
from spark_job.scoring.signature import ModelPlan
from spark_job.sinks import Sink
from spark_job.sources import SourceReader, open_source
from spark_job.spec import BigQuerySource, ErrorMode, JobSpec
from spark_job.spec.report import REFERENCE, as_reference_error
from spark_job.storage.locations import Place


@contextmanager
def _named_as_reference() -> Iterator[None]:
    """User errors raised inside name ``report.reference.<source>`` (see the module doc)."""
    try:
        yield
    except UserError as error:
        raise as_reference_error(error) from None


def _reference_spec(spec: JobSpec, features: list[str]) -> JobSpec | None:
    """``spec`` with the reference data as its source (None: the reference is no data).
    Its features default to ``features``; nothing is passed through, as nothing is written."""
    data = spec.report.reference_data
    if data is None:
        return None
    source = replace(data, features=list(data.features or features), passthrough=[])
    return replace(spec, source=source)


def describe(spec: JobSpec) -> str:
    """What the reference data is, for the report's drift section."""
    data = spec.report.reference_data
    if isinstance(data, BigQuerySource):
        return f"BigQuery table {data.table}"
    assert data is not None, "describe() is for reference data"
    return f"{data.format.value} files {', '.join(data.uris)}"


def _reader(spec: JobSpec, model_inputs: list[str] | None) -> SourceReader:
    with _named_as_reference():
        return open_source(spec, model_inputs)


def reference_places(spec: JobSpec) -> list[Place]:
    """Where the reference data is, named ``report.reference.…`` (none: no reference data),
    for the check that ``report.path`` is not written over it."""
    reference = _reference_spec(spec, [])
    if reference is None:
        return []
    places = _reader(reference, None).input_places()
    return [replace(place, field=f"{REFERENCE}.{place.field}") for place in places]


def refuse_output_over_reference(sink: Sink, spec: JobSpec, *, look_up: bool = False) -> None:
    """UserError when an output of ``sink`` meets the reference data (``look_up``: also the
    tables a view reads, asking BigQuery); its options checked on the way."""
    reference = _reference_spec(spec, [])
    if reference is None:
        return
    reader = _reader(reference, None)
    recording = spec.error_handling.mode is ErrorMode.RECORD_AND_CONTINUE
    with _named_as_reference():
        reader.check_options()
        refuse_output_over_input(sink, reader, recording, look_up=look_up)


@dataclass(frozen=True)
class ScoredReference:
    """The reference's statistics and counts, once its rows went through the model."""

    where: str
    stats: PartialReport
    rows: dict[str, int]
    failures: dict[str, int]
    seconds: float

    def document(self, job_name: str, run_id: str, model: str) -> dict[str, Any]:
        """As a report.json of a run over the reference (``job.destination``: ``where``)."""
        facts = RunFacts(job_name, run_id, self.where, model, self.rows,
                         {"reference": round(self.seconds, 3)}, self.failures)  # fmt: skip
        return build_report(self.stats, facts)


def score_reference(
    spark: SparkSession,
    spec: JobSpec,
    plan: ModelPlan,
    shipped_name: str,
    sink: Sink,
    cores: int,
    features: list[str],
) -> ScoredReference:
    """The reference data read, fitted and scored as the job's input (``features``: the input's,
    the reference's when it lists none), its rows dropped; UserError naming
    ``report.reference…`` for a missing file or column, a signature mismatch, a model failure
    under FAIL_FAST. Failed instances under RECORD_AND_CONTINUE are counted, not written."""
    started = time.monotonic()
    reference = _reference_spec(spec, features)
    assert reference is not None, "score_reference() is for reference data"
    field = f"{REFERENCE}.{reference.source_field}"
    refuse_output_over_reference(sink, spec, look_up=True)
    reader = _reader(reference, plan.signature_features)
    batch_size: BatchSize | None = None
    try:
        with _named_as_reference():
            rows = spark.sparkContext.accumulator(0)
            errors = RowErrors.create(spark, spec.error_handling, field)  # no records target
            frame = fit_to_signature(spark, reader.read(spark, errors), reference, plan, reader)
            batch_size = BatchSize(spark, frame.schema)
            task_input = reader.task_input(frame, batch_size.rows)
            if task_input is None:
                frame, _ = spread(frame, cores)
            predictions = predictions_of(
                frame, reference, shipped_name, rows, errors, reader.input_files, plan.result,
                plan.params,
            )  # fmt: skip
            if task_input is not None:
                predictions = predictions.read_in_tasks(task_input.frame(spark), task_input.read)
            columns = predictions.columns
            collector = ReportCollector.create(spark, columns.features, columns.result_columns)
            try:
                replace(predictions, report=collector).frame().write.format("noop").mode(
                    "overwrite"
                ).save()
            except (PySparkException, Py4JJavaError) as error:
                found = user_error_from_task(error) or unreadable_input(error, field)
                raise found or error from None
    finally:
        if batch_size is not None:
            batch_size.restore()
        reader.close()
    failed = errors.failed
    counts = {"read": rows.value + failed, "predicted": rows.value, "failed": failed, "written": 0}
    failures = {kind: int(s["count"]) for kind, s in errors.stats.items()}
    return ScoredReference(
        describe(spec), collector.value, counts, failures, time.monotonic() - started
    )
