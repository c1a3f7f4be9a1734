"""Result files on GCS (``gcsSink.uri: gs://bucket/folder``), written without the gcs-connector.

Tasks write their partitions under a temporary prefix next to the output,
``gs://bucket/.folder.staging-<run id>/``; only when the whole job succeeded (including the
``errorHandling.maxErrorRatio`` check) does the driver publish them into ``folder/`` under
their final names and delete the temporary prefix. A failed job leaves the output as it was.

GCS has no atomic rename: publishing copies each object (server-side) to its final name. Under
OVERWRITE the new objects are copied first and the old ones deleted after, so readers never see
an empty output.
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions
from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.formats.file_encoders import COMPRESSION
from spark_job.scoring.arrow_scorer import Scored
from spark_job.scoring.row_errors import ErrorReport, errors_shard_name
from spark_job.sinks.base import OutputColumns, SinkWriter
from spark_job.sinks.files import (
    JOB_OPTIONS,
    RESULTS_PREFIX,
    output_frame,
    output_scored,
    shard_name,
)
from spark_job.sinks.partition_files import (
    StagedFile,
    StageTarget,
    stage_partitions,
    write_empty,
)
from spark_job.spec import FileFormat, GcsSink, SaveMode
from spark_job.storage import gcs

log = logging.getLogger(__name__)


class GcsFileSink(SinkWriter):
    def __init__(self, spec: GcsSink, run_id: str, field: str = "gcsSink") -> None:
        self.spec = spec
        self.field = field
        self.run_id = run_id
        try:
            path = gcs.parse(spec.uri)
        except ValueError as error:
            raise UserError(f"{field}.uri: {error}") from None
        folder = path.name.strip("/")
        if not folder or "*" in folder:
            raise UserError(
                f"{field}.uri: '{spec.uri}': give a folder inside the bucket, e.g."
                f" gs://{path.bucket}/predictions (no wildcard)."
            )
        self.output = gcs.GcsPath(path.bucket, folder)
        parent, _, leaf = folder.rpartition("/")
        staging = f"{parent}/.{leaf}.staging-{run_id}" if parent else f".{leaf}.staging-{run_id}"
        self.staging = gcs.GcsPath(path.bucket, staging)
        self.emulator = gcs.emulator_host()
        self.options = self._check_options()

    def _check_options(self) -> dict[str, str]:
        options = {k: v for k, v in self.spec.options.items() if k not in JOB_OPTIONS}
        allowed = COMPRESSION.get(self.spec.format, ())
        for key, value in options.items():
            if key != "compression" or not allowed:
                names = ", ".join([*JOB_OPTIONS, *(["compression"] if allowed else [])])
                raise UserError(
                    f"{self.field}.options.{key}: not an option of {self.spec.format.value}"
                    f" output on gs://; allowed: {names}."
                )
            if value.lower() not in allowed:
                raise UserError(
                    f"{self.field}.options.compression: '{value}' is not one of"
                    f" {', '.join(allowed)}."
                )
        return {k: v.lower() for k, v in options.items()}

    @property
    def destination(self) -> str:
        return f"{self.output.uri}/"

    def _client(self) -> Any:
        return gcs.client(self.emulator)

    def _existing(self) -> list[gcs.GcsPath]:
        return gcs.list_prefix(self._client(), self.output)

    # ------------------------------------------------------------------ prepare
    def prepare(self, spark: SparkSession) -> bool:
        storage = self._client()
        try:
            if not storage.bucket(self.output.bucket).exists():
                raise UserError(f"{self.field}.uri: bucket '{self.output.bucket}' does not exist.")
        except exceptions.Forbidden as error:
            raise UserError(
                f"{self.field}.uri: no access to bucket '{self.output.bucket}': {error.message}"
            ) from None
        if not gcs.exists_prefix(storage, self.output):
            return True
        mode = self.spec.save_mode
        if mode.fails_if_exists:
            raise UserError(
                f"{self.field}.uri: output '{self.destination}' already exists and"
                f" {self.field}.save_mode is {mode.value}; remove it or use OVERWRITE, APPEND"
                " or IGNORE."
            )
        if mode is SaveMode.IGNORE:
            self.skip_reason = (
                f"{self.destination} exists and save_mode is IGNORE; nothing predicted"
            )
            return False
        return True

    # ------------------------------------------------------------------ write
    def _final_names(self, staged: list[StagedFile]) -> list[tuple[str, str]]:
        """(staged name, published name) of every result file."""
        if self.spec.format is FileFormat.JSON:
            return [
                (f.name, shard_name(RESULTS_PREFIX, i, len(staged))) for i, f in enumerate(staged)
            ]
        extension = staged[0].name.rsplit(".", 1)[-1] if staged else ""
        return [(f.name, f"part-{i:05d}-{self.run_id}.{extension}") for i, f in enumerate(staged)]

    def _publish(self, moves: list[tuple[str, str]]) -> None:
        storage = self._client()
        existing = {p.name for p in self._existing()}
        mode = self.spec.save_mode
        if existing and mode is not SaveMode.OVERWRITE and mode is not SaveMode.APPEND:
            raise UserError(
                f"{self.field}.uri: output '{self.destination}' appeared while the job ran and"
                f" save_mode is {mode.value}; nothing was written."
            )
        published: set[str] = set()
        for staged_name, final in moves:
            target = self.output.child(final)
            if mode is SaveMode.APPEND and target.name in existing:
                target = self.output.child(f"{self.run_id}-{final}")
            gcs.copy(storage, self.staging.child(staged_name), target)
            published.add(target.name)
        if mode is SaveMode.OVERWRITE:
            for name in sorted(existing - published):
                gcs.delete(storage, gcs.GcsPath(self.output.bucket, name))

    def write(
        self, predictions: DataFrame, columns: OutputColumns, scored: Scored | None = None
    ) -> int | None:
        frame = output_frame(predictions, columns, self.spec)
        target = StageTarget(self.spec.format, self.staging.uri, self.options, self.emulator)
        if scored is not None:  # the model scores in the tasks that write
            scored = output_scored(scored, columns, self.spec)
            staged = stage_partitions(scored.source, target, scored.scorer)
        else:
            staged = stage_partitions(frame, target)
        moves = self._final_names(staged)
        if not staged:  # no rows at all: one empty file, so the output exists
            name = "empty." + target.extension
            write_empty(target, frame, name)
            final = (
                shard_name(RESULTS_PREFIX, 0, 1)
                if self.spec.format is FileFormat.JSON
                else f"part-00000-{self.run_id}.{target.extension}"
            )
            moves = [(name, final)]
        report: ErrorReport | None = self.staged()
        if report is not None:
            gcs.write_bytes(
                self._client(),
                self.staging.child(errors_shard_name()),
                report.to_json_lines(),
                "application/json",
            )
            moves.append((errors_shard_name(), errors_shard_name()))
        self._publish(moves)
        self.abort()
        return sum(f.rows for f in staged)

    def abort(self) -> None:
        try:
            gcs.delete_prefix(self._client(), self.staging)
        except exceptions.GoogleAPICallError as error:  # cleaning must not hide the real error
            log.warning("could not delete staging %s: %s", self.staging.uri, error)
