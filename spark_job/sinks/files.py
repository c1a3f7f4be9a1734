"""Result files on the local disk: written to a hidden staging directory, then published.

Publishing is a rename on the same filesystem, so the output appears whole or not at all.
JSON results are named like Cloud ML Engine's: ``prediction.results-00000-of-00004``; the
row-error report (RECORD_AND_CONTINUE) is ``prediction.errors_stats-00000-of-00001``.
PARQUET, CSV and JSON are written by Spark's writers, AVRO by the tasks with fastavro.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.formats.file_encoders import COMPRESSION
from spark_job.scoring.arrow_scorer import Scored
from spark_job.scoring.row_errors import ErrorReport, errors_shard_name
from spark_job.sinks.base import OutputColumns, SinkWriter
from spark_job.sinks.partition_files import StageTarget, stage_partitions, write_empty
from spark_job.spec import FileFormat, GcsSink, SaveMode, option_flag
from spark_job.storage.input_files import local_path

RESULTS_PREFIX = "prediction.results"

#: Sink options handled by spark_job itself (never passed to a writer).
JOB_OPTIONS = ("includeFeatures",)


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}"


def output_exists(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


def include_features(spec: GcsSink) -> bool:
    return option_flag(spec.options, "includeFeatures", True, "gcsSink.options")


def output_frame(predictions: DataFrame, columns: OutputColumns, spec: GcsSink) -> DataFrame:
    """The columns written: passthrough + features + result, or without the features when
    ``options.includeFeatures`` is false."""
    if include_features(spec):
        return predictions
    return predictions.select(*columns.passthrough, columns.result)


def output_scored(scored: Scored, columns: OutputColumns, spec: GcsSink) -> Scored:
    """:func:`output_frame` for predictions still to compute."""
    if include_features(spec):
        return scored
    return scored.select([*columns.passthrough, columns.result])


def _pyarrow_parquet(fmt: FileFormat, options: dict[str, str]) -> bool:
    """PARQUET whose options pyarrow's writer honours: at most a ``compression`` it knows."""
    if fmt is not FileFormat.PARQUET or set(options) - {"compression"}:
        return False
    return options.get("compression", "snappy").lower() in COMPRESSION[FileFormat.PARQUET]


class LocalFileSink(SinkWriter):
    def __init__(self, spec: GcsSink, run_id: str, field: str = "gcsSink") -> None:
        self.spec = spec
        self.field = field
        self.path = Path(local_path(spec.uri)).absolute()
        self.staging = self.path.parent / f".{self.path.name}.staging-{run_id}"
        self.run_id = run_id

    @property
    def destination(self) -> str:
        return str(self.path)

    def prepare(self, spark: SparkSession) -> bool:
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not output_exists(self.path):
            return True
        mode = self.spec.save_mode
        if mode.fails_if_exists:
            raise UserError(
                f"{self.field}.uri: output '{self.spec.uri}' already exists and"
                f" {self.field}.save_mode is {mode.value}; remove it or use OVERWRITE, APPEND"
                " or IGNORE."
            )
        return mode is not SaveMode.IGNORE

    def _write_staging(self, predictions: DataFrame, scored: Scored | None) -> int | None:
        fmt = self.spec.format
        options = self._writer_options()
        # AVRO: no spark-avro here, the tasks write it. PARQUET, when the model can score in
        # the writing tasks: pyarrow encodes the scored batches, no rows go back to the JVM
        # (unless options other than a pyarrow codec ask for Spark's writer).
        if fmt is FileFormat.AVRO or (scored is not None and _pyarrow_parquet(fmt, options)):
            self.staging.mkdir(parents=True, exist_ok=True)
            target = StageTarget(fmt, str(self.staging), options)
            if scored is not None:
                staged = stage_partitions(scored.source, target, scored.scorer)
            else:
                staged = stage_partitions(predictions, target)
            for leftover in self.staging.iterdir():  # files of failed task attempts
                if leftover.name not in {f.name for f in staged}:
                    leftover.unlink()
            if not staged:
                write_empty(target, predictions, f"part-00000.{target.extension}")
            return sum(f.rows for f in staged)
        writer = predictions.write.mode("overwrite").options(**options)
        target_dir = str(self.staging)
        if fmt is FileFormat.PARQUET:
            writer.parquet(target_dir)
        elif fmt is FileFormat.CSV:
            writer.option("header", "true").csv(target_dir)
        elif fmt is FileFormat.JSON:
            writer.option("ignoreNullFields", "false").json(target_dir)
        else:
            raise UserError(f"{self.field}.format: {fmt.value} output is not supported.")
        return None

    def _writer_options(self) -> dict[str, str]:
        return {k: v for k, v in self.spec.options.items() if k not in JOB_OPTIONS}

    def _tidy_staging(self) -> None:
        """Drop Spark's marker files; give JSON shards their Cloud ML Engine names."""
        for marker in self.staging.iterdir():
            if marker.name.startswith(("_", ".")):
                marker.unlink()
        if self.spec.format is not FileFormat.JSON:
            return
        parts = sorted(p for p in self.staging.iterdir() if p.name.startswith("part-"))
        for index, part in enumerate(parts):
            part.rename(self.staging / shard_name(RESULTS_PREFIX, index, len(parts)))

    def _add_report(self, report: ErrorReport | None) -> None:
        if report is not None:
            (self.staging / errors_shard_name()).write_bytes(report.to_json_lines())

    def _publish(self) -> None:
        mode = self.spec.save_mode
        if not output_exists(self.path):
            if self.path.is_dir():
                self.path.rmdir()
            os.rename(self.staging, self.path)
        elif mode is SaveMode.OVERWRITE:
            trash = self.path.parent / f".{self.path.name}.replaced-{self.run_id}"
            os.rename(self.path, trash)
            os.rename(self.staging, self.path)
            shutil.rmtree(trash, ignore_errors=True)
        elif mode is SaveMode.APPEND:
            for item in sorted(self.staging.iterdir()):
                name = item.name
                if (self.path / name).exists():
                    name = f"{self.run_id}-{name}"
                os.rename(item, self.path / name)
            self.staging.rmdir()
        else:  # the output appeared while we were predicting
            raise UserError(
                f"{self.field}.uri: output '{self.spec.uri}' appeared while the job ran and"
                f" save_mode is {mode.value}; nothing was written."
            )

    def write(
        self, predictions: DataFrame, columns: OutputColumns, scored: Scored | None = None
    ) -> int | None:
        if scored is not None:
            scored = output_scored(scored, columns, self.spec)
        written = self._write_staging(output_frame(predictions, columns, self.spec), scored)
        self._tidy_staging()
        self._add_report(self.staged())
        self._publish()
        return written

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
