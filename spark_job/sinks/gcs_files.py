"""Result files on GCS (``gcsSink.uri: gs://bucket/folder``), written without the gcs-connector.

Tasks write their partitions under a temporary prefix next to the output,
``gs://bucket/.folder.staging-<run id>/``; only when the whole job succeeded (including the
``errorHandling.maxErrorRatio`` check) does the driver publish them into ``folder/`` under
their final names and delete the temporary prefix. A failed job leaves the output as it was.
Under RECORD_AND_CONTINUE the failed instances' error records are staged under ``errors/`` of
that prefix and published as ``prediction.errors-00000-of-0000N`` (none when no instance
failed).

GCS has no atomic rename: publishing copies each object (server-side) to its final name. Under
OVERWRITE the new objects are copied first and the old ones deleted after, so readers never see
an empty output. One run publishes into a folder at a time (a lock object beside it), so two
jobs never mix; a publish that fails part way removes the objects it added.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from google.api_core import exceptions
from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.formats.file_encoders import Encoding
from spark_job.scoring.error_records import RecordsTarget, publication
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import ErrorReport, errors_shard_name
from spark_job.sinks.base import Sink, Skip, Staged
from spark_job.sinks.files import RESULTS_PREFIX, shard_name, written_columns
from spark_job.sinks.markers import ResumeKey
from spark_job.sinks.stager import StagedFile, StageTarget, stage_empty, stage_resumable
from spark_job.spec import FileFormat, GcsSink, SaveMode
from spark_job.storage import gcs
from spark_job.storage.locations import Location, Place

log = logging.getLogger(__name__)

#: The folder of the staging prefix where tasks put their error records.
RECORDS_FOLDER = "errors"


class GcsFileSink(Sink):
    location_field = "uri"

    def __init__(self, spec: GcsSink, run_id: str, field: str = "gcsSink") -> None:
        self.spec = spec
        self.field = field
        self.save_mode = spec.save_mode
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
        #: Held while a run publishes into the folder (see :meth:`_publishing`).
        self.lock = gcs.GcsPath(path.bucket, staging.rsplit(".staging-", 1)[0] + ".publishing")
        self.emulator = gcs.emulator_host()
        self.options = spec.typed_options.writer_options

    @property
    def destination(self) -> str:
        return f"{self.output.uri}/"

    def _client(self) -> Any:
        return gcs.client(self.emulator)

    # ------------------------------------------------------------------ prepare
    def connect(self, spark: SparkSession) -> Skip | None:
        try:
            if not self._client().bucket(self.output.bucket).exists():
                raise UserError(f"{self.field}.uri: bucket '{self.output.bucket}' does not exist.")
        except exceptions.Forbidden as error:
            raise UserError(
                f"{self.field}.uri: no access to bucket '{self.output.bucket}': {error.message}"
            ) from None
        return None

    def output_exists(self) -> bool:
        return gcs.exists_prefix(self._client(), self.output)

    def output_places(self, recording: bool) -> list[Place]:
        where = Location(f"gs://{self.output.bucket}", self.output.name)
        return [Place(f"{self.field}.uri", f"output '{self.spec.uri}'", where)]

    def records_target(self) -> RecordsTarget:
        return RecordsTarget(self.staging.child(RECORDS_FOLDER).uri, self.emulator)

    # ------------------------------------------------------------------ stage
    def stage(self, predictions: Predictions, key: ResumeKey | None = None) -> Staged:
        predictions = written_columns(predictions, self.spec)
        encoding = Encoding.for_file_format(self.spec.format, self.options)
        target = StageTarget(self.staging.uri, encoding, self.emulator)
        files, resumed = stage_resumable(predictions, target, key)
        rows = sum(f.rows for f in files)
        if not files:  # no rows at all: one empty file, so the output exists
            files = [stage_empty(target, predictions.schema, f"empty.{target.extension}")]
        return Staged(files, rows, resumed=resumed)

    # ------------------------------------------------------------------ publish
    def _final_names(self, files: list[StagedFile]) -> list[tuple[str, str]]:
        """(staged name, published name) of every result file."""
        if self.spec.format is FileFormat.JSON:
            count = len(files)
            return [(f.name, shard_name(RESULTS_PREFIX, i, count)) for i, f in enumerate(files)]
        return [
            (f.name, f"part-{i:05d}-{self.run_id}.{f.name.rsplit('.', 1)[-1]}")
            for i, f in enumerate(files)
        ]

    def commit(self, staged: Staged, report: ErrorReport | None) -> int | None:
        """GCS has no atomic rename: each object is copied (server-side) to its final name.
        Under OVERWRITE the new objects are copied first and the old ones deleted after, so
        readers never see an empty output."""
        storage = self._client()
        moves = self._final_names(staged.files)
        if report is not None:
            gcs.write_bytes(
                storage,
                self.staging.child(errors_shard_name()),
                report.to_json_lines(),
                "application/json",
            )
            moves.append((errors_shard_name(), errors_shard_name()))
            for side_file, name in publication(list(report.record_files)):
                moves.append((f"{RECORDS_FOLDER}/{side_file}", name))
        with self._publishing(storage):
            self._copy(storage, moves)
        self.abort()
        return staged.rows

    @contextlib.contextmanager
    def _publishing(self, storage: Any) -> Iterator[None]:
        """One run publishes into the folder at a time, so two jobs writing the same output
        never mix: a lock object beside it, created only if absent (a generation-0
        precondition); the output is looked at again once it is held. A rerun of the run
        that holds it (its driver killed while publishing) takes it over."""
        blob = storage.bucket(self.lock.bucket).blob(self.lock.name)
        try:
            blob.upload_from_string(self.run_id.encode(), if_generation_match=0)
        except exceptions.PreconditionFailed:
            holder = gcs.read_bytes(storage, self.lock).decode(errors="replace")
            if holder != self.run_id:
                raise RuntimeError(
                    f"{self.field}.uri: run '{holder}' is publishing into {self.destination}"
                    f" (lock {self.lock.uri}); if no such run is alive, delete the lock."
                ) from None
        try:
            if self.save_mode not in (SaveMode.OVERWRITE, SaveMode.APPEND) and (
                self.output_exists()
            ):
                raise UserError(
                    f"{self.field}.uri: {self.describe()} appeared while the job ran and"
                    f" save_mode is {self.save_mode.value}; nothing was written."
                )
            yield
        finally:
            gcs.delete(storage, self.lock)

    def _copy(self, storage: Any, moves: list[tuple[str, str]]) -> None:
        existing = {p.name for p in gcs.list_prefix(storage, self.output)}
        published: set[str] = set()
        try:
            for staged_name, final in moves:
                target = self.output.child(final)
                if self.save_mode is SaveMode.APPEND and target.name in existing:
                    target = self.output.child(f"{self.run_id}-{final}")
                published.add(target.name)
                gcs.copy(storage, self.staging.child(staged_name), target)
        except BaseException:
            self._unpublish(storage, published - existing)
            raise
        if self.save_mode is SaveMode.OVERWRITE:
            for name in sorted(existing - published):
                gcs.delete(storage, gcs.GcsPath(self.output.bucket, name))

    def _unpublish(self, storage: Any, names: set[str]) -> None:
        """A publish that failed part way: the objects it added go, so the output is as it
        was (under OVERWRITE, an object of the old output copied over by name stays replaced).
        """
        for name in sorted(names):
            try:
                gcs.delete(storage, gcs.GcsPath(self.output.bucket, name))
            except exceptions.GoogleAPICallError as error:
                log.warning("could not remove %s of a failed publish: %s", name, error)

    def abort(self) -> None:
        try:
            gcs.delete_prefix(self._client(), self.staging)
        except exceptions.GoogleAPICallError as error:  # cleaning must not hide the real error
            log.warning("could not delete staging %s: %s", self.staging.uri, error)
