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
jobs never mix; a publish that fails part way removes the objects it added. Before its first
copy the run writes its plan (every copy and deletion) into the lock: a driver killed while
publishing leaves lock, plan and staging, and a rerun with the same run id completes that
publish instead of predicting again (a rerun with another run id fails naming the lock).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions
from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.formats.file_encoders import Encoding
from spark_job.scoring.error_records import RecordsTarget, publication
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import ErrorReport, errors_shard_name
from spark_job.sinks.base import Finished, Sink, Skip, Staged
from spark_job.sinks.files import RESULTS_PREFIX, shard_name, written_columns
from spark_job.sinks.markers import ResumeKey
from spark_job.sinks.stager import StagedFile, StageTarget, stage_empty, stage_resumable
from spark_job.spec import FileFormat, GcsSink, SaveMode
from spark_job.storage import gcs
from spark_job.storage.locations import Location, Place

log = logging.getLogger(__name__)

#: The folder of the staging prefix where tasks put their error records.
RECORDS_FOLDER = "errors"


@dataclass(frozen=True)
class PublishPlan:
    """What a publish does, recorded in the lock before its first copy: ``copies`` (staged
    name under the staging prefix, object name in the bucket), then ``removed`` (objects of
    the old output, OVERWRITE); ``rows`` and ``failed`` for the summary of a rerun that
    completes it."""

    copies: list[tuple[str, str]]
    removed: list[str]
    rows: int | None
    failed: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "copies": [list(c) for c in self.copies],
            "removed": self.removed,
            "rows": self.rows,
            "failed": self.failed,
        }

    @classmethod
    def of(cls, document: dict[str, Any]) -> PublishPlan:
        copies = [(str(a), str(b)) for a, b in document.get("copies", [])]
        rows = document.get("rows")
        removed = [str(n) for n in document.get("removed", [])]
        return cls(
            copies, removed, None if rows is None else int(rows), int(document.get("failed") or 0)
        )


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
    def connect(self, spark: SparkSession) -> Skip | Finished | None:
        storage = self._client()
        try:
            if not storage.bucket(self.output.bucket).exists():
                raise UserError(f"{self.field}.uri: bucket '{self.output.bucket}' does not exist.")
        except exceptions.Forbidden as error:
            raise UserError(
                f"{self.field}.uri: no access to bucket '{self.output.bucket}': {error.message}"
            ) from None
        return self._complete_interrupted(storage)

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
        readers never see an empty output. The plan (every copy, every deletion) is written
        into the lock before the first copy, so that a rerun of this run can complete a
        publish its killed driver left half done (:meth:`_complete_interrupted`)."""
        storage = self._client()
        moves = self._final_names(staged.files)
        failed = 0
        if report is not None:
            failed = report.failed
            gcs.write_bytes(
                storage,
                self.staging.child(errors_shard_name()),
                report.to_json_lines(),
                "application/json",
            )
            moves.append((errors_shard_name(), errors_shard_name()))
            for side_file, name in publication(list(report.record_files)):
                moves.append((f"{RECORDS_FOLDER}/{side_file}", name))
        with self._publishing(storage) as lock:
            existing = {p.name for p in gcs.list_prefix(storage, self.output)}
            plan = self._plan(moves, existing, staged.rows, failed)
            self._record(storage, lock, plan)
            try:
                self._copy(storage, plan)
            except BaseException:
                self._unpublish(storage, {target for _, target in plan.copies} - existing)
                raise
            self._finish(storage, plan)
        return staged.rows

    def _plan(
        self, moves: list[tuple[str, str]], existing: set[str], rows: int | None, failed: int
    ) -> PublishPlan:
        """The copies (staged name → object name) and, under OVERWRITE, the objects of the old
        output deleted after them; under APPEND a name already taken gets the run id first."""
        copies = []
        for staged_name, final in moves:
            target = self.output.child(final)
            if self.save_mode is SaveMode.APPEND and target.name in existing:
                target = self.output.child(f"{self.run_id}-{final}")
            copies.append((staged_name, target.name))
        removed: list[str] = []
        if self.save_mode is SaveMode.OVERWRITE:
            removed = sorted(existing - {target for _, target in copies})
        return PublishPlan(copies, removed, rows, failed)

    def _record(self, storage: Any, lock: Any, plan: PublishPlan) -> None:
        """The plan into the lock, if it is still the one this run created (its generation)."""
        try:
            lock.upload_from_string(
                json.dumps({"run": self.run_id, "plan": plan.document()}).encode(),
                if_generation_match=lock.generation,
            )
        except exceptions.PreconditionFailed:  # a retry whose first try was written is fine
            holder = self._holder(storage)
            if holder is None or holder != (self.run_id, plan):
                raise self._held_by(holder[0] if holder else "?") from None

    @contextlib.contextmanager
    def _publishing(self, storage: Any) -> Iterator[Any]:
        """One run publishes into the folder at a time, so two jobs writing the same output
        never mix: a lock object beside it (the blob is yielded), created only if absent (a
        generation-0 precondition); the output is looked at again once it is held."""
        blob = storage.bucket(self.lock.bucket).blob(self.lock.name)
        try:
            blob.upload_from_string(
                json.dumps({"run": self.run_id}).encode(), if_generation_match=0
            )
        except exceptions.PreconditionFailed:  # held (or our own create, retried)
            holder = self._holder(storage)
            if holder is None or holder[0] != self.run_id:
                raise self._held_by(holder[0] if holder else "?") from None
            blob.reload()
        try:
            if self.save_mode not in (SaveMode.OVERWRITE, SaveMode.APPEND) and (
                self.output_exists()
            ):
                raise UserError(
                    f"{self.field}.uri: {self.describe()} appeared while the job ran and"
                    f" save_mode is {self.save_mode.value}; nothing was written."
                )
            yield blob
        finally:
            gcs.delete(storage, self.lock)

    def _holder(self, storage: Any) -> tuple[str, PublishPlan | None] | None:
        """The run holding the lock and its plan once recorded (None: no lock)."""
        try:
            data = gcs.read_bytes(storage, self.lock).decode(errors="replace")
        except exceptions.NotFound:
            return None
        try:
            document = json.loads(data)
        except ValueError:  # a lock of an earlier version: the run id alone
            return data, None
        if not isinstance(document, dict):
            return data, None
        plan = document.get("plan")
        return str(document.get("run")), PublishPlan.of(plan) if plan else None

    def _held_by(self, holder: str) -> RuntimeError:
        return RuntimeError(
            f"{self.field}.uri: run '{holder}' is publishing into {self.destination}"
            f" (lock {self.lock.uri}); if no such run is alive, delete the lock."
        )

    def _complete_interrupted(self, storage: Any) -> Finished | None:
        """Driver, in ``connect``: a lock of this run means its driver was killed while
        publishing. Without a plan it had copied nothing: the lock goes, and the run goes on
        (reusing its staged parts). With one, the publish is completed — every copy made
        again (each writes one whole object to a fixed name), the old objects deleted,
        staging and lock removed — and nothing is predicted again. Another run's lock: that
        run is publishing (or was killed doing so), and this one fails naming it."""
        holder = self._holder(storage)
        if holder is None:
            return None
        run, plan = holder
        if run != self.run_id:
            raise self._held_by(run)
        if plan is None:
            gcs.delete(storage, self.lock)
            return None
        log.warning("%s: completing the publish of an earlier attempt of run %s",
                    self.destination, self.run_id)  # fmt: skip
        self._copy(storage, plan, resuming=True)
        self._finish(storage, plan)
        gcs.delete(storage, self.lock)
        note = f"completed the interrupted publish of this run ({len(plan.copies)} objects)"
        return Finished(note, plan.rows, plan.failed)

    def _copy(self, storage: Any, plan: PublishPlan, resuming: bool = False) -> None:
        """Every copy of ``plan``. ``resuming``: a staged object already gone means the killed
        driver had begun deleting staging, so every copy was made (its target must exist)."""
        for staged_name, target in plan.copies:
            source = self.staging.child(staged_name)
            destination = gcs.GcsPath(self.output.bucket, target)
            try:
                gcs.copy(storage, source, destination)
            except exceptions.NotFound:
                if not resuming or not gcs.exists(storage, destination):
                    raise
                log.info("%s: already published (its staged copy is gone)", destination.uri)

    def _finish(self, storage: Any, plan: PublishPlan) -> None:
        """After the copies: the old objects (OVERWRITE), then staging; the lock last."""
        for name in plan.removed:
            gcs.delete(storage, gcs.GcsPath(self.output.bucket, name))
        self.abort()

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
