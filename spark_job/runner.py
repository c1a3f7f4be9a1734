"""One job run: SaveMode check, source, model, sink, in that order; no CLI concerns here."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DateType

from spark_job.errors import UserError
from spark_job.model import prediction_column, ship_model
from spark_job.model_store import resolve_model
from spark_job.sinks import OutputColumns, open_sink
from spark_job.sources import open_source
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


_MODEL_OUTPUT_ERROR = re.compile(r"ModelOutputError: (.+)")


def user_error_from_task(error: Exception) -> UserError | None:
    """A task failure caused by a user's mistake (model output vs spec), as a UserError."""
    match = _MODEL_OUTPUT_ERROR.search(str(error))
    return UserError(match.group(1).strip()) if match else None


def _datetime_features(frame: DataFrame, features: list[str]) -> set[str]:
    types = {f.name: f.dataType for f in frame.schema.fields}
    return {name for name in features if isinstance(types[name], DateType)}


def run_job(spark: SparkSession, spec: JobSpec, job_name: str, run_id: str) -> JobResult:
    """Run ``spec`` on ``spark``; raise UserError for the user's mistakes."""
    started = time.monotonic()
    sink = open_sink(spec, job_name, run_id)
    if not sink.prepare(spark):
        return JobResult(
            status="SKIPPED", destination=sink.destination, skip_reason=sink.skip_reason
        )
    model_dir = resolve_model(spec.model.uri)
    source = open_source(spec)
    rows_predicted = spark.sparkContext.accumulator(0)
    try:
        frame = source.read(spark)
        passthrough = list(spec.source.passthrough)
        features = [c for c in frame.columns if c not in passthrough]
        shipped = ship_model(spark, model_dir)
        result_column = spec.sink.result_column
        prediction = prediction_column(
            shipped,
            features,
            _datetime_features(frame, features),
            spec.model.result,
            rows_predicted,
            *[frame[name] for name in features],
        )
        predictions = frame.select(*passthrough, *features, prediction.alias(result_column))
        columns = OutputColumns(passthrough, features, result_column)
        written = sink.write(predictions, columns)
    except PySparkException as error:
        sink.abort()
        raise user_error_from_task(error) or error from None
    except BaseException:
        sink.abort()
        raise
    finally:
        source.close()
    predicted = rows_predicted.value
    return JobResult(
        status="COMPLETED",
        destination=sink.destination,
        rows_read=predicted,
        rows_predicted=predicted,
        rows_written=predicted if written is None else written,
        seconds=time.monotonic() - started,
    )
