"""Result files on the local disk: written to a hidden staging directory, then published.

Publishing is a rename on the same filesystem, so the output appears whole or not at all.
JSON results are named like Cloud ML Engine's: ``prediction.results-00000-of-00004``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.sinks.base import OutputColumns, SinkWriter
from spark_job.sources.files import local_path
from spark_job.spec import FileFormat, GcsSink, SaveMode

RESULTS_PREFIX = "prediction.results"


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}"


def output_exists(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


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

    @property
    def include_features(self) -> bool:
        return self.spec.options.get("includeFeatures", "true").lower() != "false"

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
        self.skip_reason = f"{self.path} exists and save_mode is IGNORE; nothing predicted"
        return mode is not SaveMode.IGNORE

    def _write_staging(self, predictions: DataFrame, columns: OutputColumns) -> None:
        if not self.include_features:
            predictions = predictions.select(*columns.passthrough, columns.result)
        writer = predictions.write.mode("overwrite").options(**self._writer_options())
        fmt = self.spec.format
        target = str(self.staging)
        if fmt is FileFormat.PARQUET:
            writer.parquet(target)
        elif fmt is FileFormat.CSV:
            writer.option("header", "true").csv(target)
        elif fmt is FileFormat.JSON:
            writer.option("ignoreNullFields", "false").json(target)
        else:
            raise UserError(f"{self.field}.format: {fmt.value} output is not supported locally.")

    def _writer_options(self) -> dict[str, str]:
        return {k: v for k, v in self.spec.options.items() if k != "includeFeatures"}

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

    def write(self, predictions: DataFrame, columns: OutputColumns) -> int | None:
        self._write_staging(predictions, columns)
        self._tidy_staging()
        self._publish()
        return None

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
