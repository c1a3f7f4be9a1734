"""Result files on the local disk: staged in a hidden directory of the run, then published.

Publishing is a rename on the same filesystem, so a new output appears whole or not at all; an
OVERWRITE (the old output renamed away, then the staging folder in) and an APPEND (a rename per
file) are several, planned in ``.<name>.publishing-<run id>.json`` beside the output first, so
that a rerun of a run whose driver was killed between them completes them.
JSON results are named like Cloud ML Engine's: ``prediction.results-00000-of-00004``; the
row-error report (RECORD_AND_CONTINUE) is ``prediction.errors_stats-00000-of-00001``, and
the failed instances' error records ``prediction.errors-00000-of-0000N`` (none when no instance
failed; tasks write them to a hidden directory of the run, see
:mod:`spark_job.scoring.error_records`).
AVRO, and PARQUET with at most a pyarrow ``compression``, are written by the scoring tasks
themselves (:mod:`spark_job.sinks.stager`); CSV, JSON and PARQUET with other writer options by
Spark's writers, which take the options as they are.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.formats.file_encoders import COMPRESSION, Encoding
from spark_job.scoring.error_records import RecordsTarget, publication
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import ErrorReport, errors_shard_name
from spark_job.sinks.base import Finished, Sink, Staged
from spark_job.sinks.markers import RESUME_FOLDER, Resumed, ResumeKey, StagingFolder
from spark_job.sinks.stager import StageTarget, stage_empty, stage_resumable
from spark_job.spec import FileFormat, GcsSink, SaveMode
from spark_job.storage.input_files import local_path
from spark_job.storage.locations import Place, output_location

RESULTS_PREFIX = "prediction.results"


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}"


def output_exists(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


def written_columns(predictions: Predictions, spec: GcsSink) -> Predictions:
    """The columns written: passthrough + features + result, or without the features when
    ``options.includeFeatures`` is false."""
    if spec.typed_options.include_features:
        return predictions
    return predictions.select(predictions.columns.passthrough)


def _pyarrow_parquet(fmt: FileFormat, options: dict[str, str]) -> bool:
    """PARQUET whose options pyarrow's writer honours: at most a ``compression`` it knows."""
    if fmt is not FileFormat.PARQUET or set(options) - {"compression"}:
        return False
    return options.get("compression", "snappy").lower() in COMPRESSION[FileFormat.PARQUET]


class LocalFileSink(Sink):
    location_field = "uri"

    def __init__(self, spec: GcsSink, run_id: str, field: str = "gcsSink") -> None:
        self.spec = spec
        self.field = field
        self.save_mode = spec.save_mode
        self.path = Path(local_path(spec.uri)).absolute()
        self.staging = self.path.parent / f".{self.path.name}.staging-{run_id}"
        self.records_dir = self.path.parent / f".{self.path.name}.errors-{run_id}"
        self.run_id = run_id
        self.options = spec.typed_options.writer_options

    @property
    def destination(self) -> str:
        return str(self.path)

    def describe(self) -> str:
        return f"output '{self.spec.uri}'"

    def output_exists(self) -> bool:
        return output_exists(self.path)

    def output_places(self, recording: bool) -> list[Place]:
        return [Place(f"{self.field}.uri", self.describe(), output_location(str(self.path)))]

    def check_writable(self, exists: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def records_target(self) -> RecordsTarget:
        """Beside the staging directory, where Spark's writers cannot remove them."""
        self.records_dir.mkdir(parents=True, exist_ok=True)
        return RecordsTarget(str(self.records_dir))

    # ------------------------------------------------------------------ stage
    def stage(self, predictions: Predictions, key: ResumeKey | None = None) -> Staged:
        predictions = written_columns(predictions, self.spec)
        fmt = self.spec.format
        earlier = output_exists(self.staging)  # left by a killed attempt of this run
        self.staging.mkdir(parents=True, exist_ok=True)
        if fmt is FileFormat.AVRO or _pyarrow_parquet(fmt, self.options):
            target = StageTarget(str(self.staging), Encoding.for_file_format(fmt, self.options))
            files, resumed = stage_resumable(predictions, target, key)
            kept = {f.name for f in files} | {RESUME_FOLDER}
            for leftover in self.staging.iterdir():  # files of failed task attempts
                if leftover.name not in kept:
                    leftover.unlink()
            if not files:
                stage_empty(target, predictions.schema, f"part-00000.{target.extension}")
            return Staged(files, sum(f.rows for f in files), resumed=resumed)
        self._write_with_spark(predictions)  # replaces whatever the folder held
        if not earlier:
            return Staged()
        why = f"{self.field}.format {fmt.value} is written by Spark's writer, all or nothing"
        return Staged(resumed=Resumed(note=f"nothing resumed: {why}"))

    def _write_with_spark(self, predictions: Predictions) -> None:
        """Spark's writer into the staging directory, then Spark's markers out and JSON
        shards given their Cloud ML Engine names."""
        writer = predictions.frame().write.mode("overwrite").options(**self.options)
        fmt, target = self.spec.format, str(self.staging)
        if fmt is FileFormat.PARQUET:
            writer.parquet(target)
        elif fmt is FileFormat.CSV:
            writer.option("header", "true").csv(target)
        elif fmt is FileFormat.JSON:
            writer.option("ignoreNullFields", "false").json(target)
        else:
            raise UserError(f"{self.field}.format: {fmt.value} output is not supported.")
        for marker in self.staging.iterdir():
            if marker.name.startswith(("_", ".")):
                marker.unlink()
        if fmt is FileFormat.JSON:
            parts = sorted(p for p in self.staging.iterdir() if p.name.startswith("part-"))
            for index, part in enumerate(parts):
                part.rename(self.staging / shard_name(RESULTS_PREFIX, index, len(parts)))

    # ------------------------------------------------------------------ publish
    @property
    def plan_path(self) -> Path:
        """The publish plan of this run, beside the output while it publishes."""
        return self.path.parent / f".{self.path.name}.publishing-{self.run_id}.json"

    def connect(self, spark: SparkSession) -> Finished | None:
        """A plan of this run beside the output: its driver was killed while publishing.
        The publish is completed (the renames not yet made), and nothing predicted again."""
        try:
            plan = json.loads(self.plan_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # cut short while written: no rename was made yet
            self.plan_path.unlink()
            return None
        self._carry_out(plan)
        note = f"completed the interrupted publish of this run ({len(plan['moves'])} renames)"
        return Finished(note, plan.get("rows"), int(plan.get("failed") or 0))

    def commit(self, staged: Staged, report: ErrorReport | None) -> int | None:
        """Renames on one filesystem, planned first: into a new output, the staging folder
        itself (one rename: atomic); under OVERWRITE the old output out of the way, then the
        staging folder in; under APPEND each file. The plan is written before the first
        rename, so that a rerun of this run completes what a killed driver began."""
        failed = 0
        if report is not None:
            failed = report.failed
            (self.staging / errors_shard_name()).write_bytes(report.to_json_lines())
            for side_file, name in publication(list(report.record_files)):
                os.rename(self.records_dir / side_file, self.staging / name)
        StagingFolder(str(self.staging)).drop()  # the markers are not results
        plan = {"moves": self._moves(), "rows": staged.rows, "failed": failed}
        partial = self.plan_path.with_name(f"{self.plan_path.name}.partial")
        partial.write_text(json.dumps(plan))
        partial.replace(self.plan_path)  # the plan appears whole
        self._carry_out(plan)
        return staged.rows

    def _moves(self) -> list[tuple[str, str]]:
        """(from, to) of every rename of the publish, in order."""
        staging, path = str(self.staging), str(self.path)
        if not output_exists(self.path):
            return [(staging, path)]
        if self.save_mode is SaveMode.OVERWRITE:
            shutil.rmtree(self._trash, ignore_errors=True)  # left by a completed publish
            return [(path, str(self._trash)), (staging, path)]
        moves = []  # APPEND
        for item in sorted(self.staging.iterdir()):
            name = item.name
            if (self.path / name).exists():
                name = f"{self.run_id}-{name}"
            moves.append((str(item), str(self.path / name)))
        return moves

    def _rename(self, moved: Path, destination: Path) -> None:
        if destination.is_dir():  # an empty folder: the output "does not exist"
            destination.rmdir()
        os.rename(moved, destination)

    @property
    def _trash(self) -> Path:
        return self.path.parent / f".{self.path.name}.replaced-{self.run_id}"

    def _carry_out(self, plan: dict[str, Any]) -> None:
        """Every rename of ``plan`` not made yet (its target in place: made), then the plan,
        the old output, the staging folder and the error side files go."""
        StagingFolder(str(self.staging)).drop()
        for source, target in plan["moves"]:
            moved, destination = Path(source), Path(target)
            if output_exists(destination):
                continue
            if not moved.exists():
                raise RuntimeError(
                    f"{self.field}.uri: cannot complete the publish of run {self.run_id}:"
                    f" {moved} is gone and {destination} is not there"
                )
            self._rename(moved, destination)
        # the plan first: carried out again, its first OVERWRITE rename would move the new
        # output away once the old one is deleted
        self.plan_path.unlink(missing_ok=True)
        shutil.rmtree(self._trash, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)  # emptied by an APPEND
        shutil.rmtree(self.records_dir, ignore_errors=True)  # failed attempts' side files

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        shutil.rmtree(self.records_dir, ignore_errors=True)
        self.plan_path.unlink(missing_ok=True)
