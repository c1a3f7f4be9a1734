"""Predictions into a BigQuery table through a GCS staging bucket (the connector's indirect write).

storage-api engine: SaveMode decided on the driver before any prediction; executors stage their
partitions under ``gs://STAGING/<job>-<run id>/``; the driver creates the table if needed (with
partitioning and clustering) and runs ONE load job — WRITE_TRUNCATE for OVERWRITE, an atomic
replace — whose id is stable across driver restarts; staging is deleted whatever happens.
connector engine: ``df.write.format("bigquery")`` with the user's options; under
RECORD_AND_CONTINUE the predictions are persisted and judged (``maxErrorRatio``) first, as the
connector publishes as it writes.
Under RECORD_AND_CONTINUE the failed instances' error records are staged as JSON lines under
``errors/`` of the staging prefix and loaded after the results into ``<table>_errors`` (or
``errorsTable``), with the same SaveMode, by either engine (see
:mod:`spark_job.bigquery.errors_table`).
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions
from pyspark import StorageLevel
from pyspark.sql import SparkSession

from spark_job.bigquery.api_errors import service_reason
from spark_job.bigquery.clients import bigquery_client, default_project
from spark_job.bigquery.engine import CONNECTOR, choose_engine, connector_options
from spark_job.bigquery.errors_table import ErrorsTable, errors_table_id, records_schema
from spark_job.bigquery.load import (
    LoadRequest,
    check_columns,
    connector_job_labels,
    create_table,
    created_by_run,
    earlier_connector_load,
    earlier_load,
    load_outcome,
    loaded_rows,
    run_load,
    run_marker,
    schema_update_options,
)
from spark_job.bigquery.retry import TRANSIENT_RETRY, rate_limited
from spark_job.bigquery.schema import (
    aligned_columns,
    append_fields,
    bigquery_schema,
    incompatible_columns,
)
from spark_job.bigquery.staging import FORMATS, check_stageable, staging_encoding
from spark_job.bigquery.table_id import parse_table_id
from spark_job.errors import UserError
from spark_job.scoring.error_records import RecordsTarget
from spark_job.scoring.predictions import Predictions
from spark_job.scoring.row_errors import ErrorReport
from spark_job.sinks.base import Finished, Sink, Staged
from spark_job.sinks.markers import ResumeKey
from spark_job.sinks.stager import (
    StagedFile,
    StageTarget,
    not_resumable,
    stage_empty,
    stage_resumable,
)
from spark_job.spec import BigQuerySink, SaveMode
from spark_job.spec.job_name import validate_job_name
from spark_job.storage import gcs
from spark_job.storage.locations import Place

FIELD = "bigquerySink"
WRITE_DISPOSITIONS = {
    SaveMode.OVERWRITE: "WRITE_TRUNCATE",
    SaveMode.APPEND: "WRITE_APPEND",
    SaveMode.ERRORIFEXISTS: "WRITE_EMPTY",
    SaveMode.ERROR: "WRITE_EMPTY",
    SaveMode.IGNORE: "WRITE_EMPTY",
}
#: Options spark_job reads itself; everything else is the connector's.
BUCKET_OPTION = "temporaryGcsBucket"
#: The folder of the staging prefix where tasks put their error records.
RECORDS_FOLDER = "errors"

log = logging.getLogger(__name__)


class BigQueryTableSink(Sink):
    field = FIELD
    location_field = "table"

    def __init__(self, spec: BigQuerySink, job_name: str, run_id: str) -> None:
        self.spec = spec
        self.save_mode = spec.save_mode
        self.options = spec.typed_options
        self.job_name = validate_job_name(job_name)
        self.run_id = run_id
        bucket = spec.staging_bucket or self.options.temporary_gcs_bucket
        if not bucket:
            raise UserError(
                f"{FIELD}.staging_bucket: required (or {FIELD}.options.{BUCKET_OPTION}): the"
                " results are staged in this GCS bucket before BigQuery loads them."
            )
        self.bucket = bucket.removeprefix("gs://").strip("/")
        self.project = self.options.parent_project or default_project()
        self.table = parse_table_id(
            spec.table, f"{FIELD}.table", self.options.project or self.project
        )
        self.format = self.options.intermediate_format
        self.staging = gcs.GcsPath(self.bucket, f"{self.job_name}-{run_id}")
        self.marker = run_marker(self.job_name, run_id)
        errors_field = f"{FIELD}.errorsTable" if spec.errors_table else f"{FIELD}.table"
        self.errors_table = errors_table_id(
            self.table, spec.errors_table, errors_field, self.options.project or self.project
        )
        self.errors_field = errors_field
        self.errors: ErrorsTable | None = None  # set when error records are kept
        self._records_schema: list[Any] = []
        self.emulator = gcs.emulator_host()
        self.engine = ""
        self.location: str | None = None
        self.existing: Any = None  # the destination table, when it exists
        self.attempt = 0  # the attempt number of this run's next load job
        self._client: Any = None
        self._persisted: Any = None  # the connector engine's scored rows, until written

    @property
    def destination(self) -> str:
        return str(self.table)

    def describe(self) -> str:
        return f"table {self.table}"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = bigquery_client(self.project or self.table.project)
        return self._client

    # ------------------------------------------------------------------ prepare
    def _dataset_location(self) -> str | None:
        """The dataset's location: jobs outside the US and EU are only found by giving it."""
        try:
            dataset = self.client.get_dataset(self.table.dataset_id, retry=TRANSIENT_RETRY)
        except exceptions.NotFound:
            raise UserError(
                f"{FIELD}.table: dataset {self.table.dataset_id} not found; create it first."
            ) from None
        except exceptions.Forbidden as error:
            raise UserError(
                f"{FIELD}.table: permission denied on dataset {self.table.dataset_id}:"
                f" {service_reason(error)}"
            ) from None
        return dataset.location

    def _existing_table(self) -> Any:
        try:
            table = self.client.get_table(str(self.table), retry=TRANSIENT_RETRY)
        except exceptions.NotFound:
            return None
        if self.engine != CONNECTOR and created_by_run(table, self.marker):
            # An earlier attempt of this run created it and died before its load: the table
            # was missing before this run, so it is again.
            log.warning("%s: created empty by an earlier attempt of this run; dropped", table)
            self.client.delete_table(str(self.table), not_found_ok=True, retry=TRANSIENT_RETRY)
            return None
        return table

    def _check_bucket(self) -> None:
        """The staging bucket exists and takes writes: a probe object under the staging prefix,
        deleted at once (what a killed attempt of this run staged stays, to be reused). (Not a
        bucket lookup: writing needs storage.objects.create, a lookup storage.buckets.get,
        which many writers lack.)"""
        storage = gcs.client(self.emulator)
        probe = self.staging.child("_probe")
        try:
            gcs.write_bytes(storage, probe, b"")
            gcs.delete(storage, probe)
        except exceptions.NotFound:
            raise UserError(f"{FIELD}.staging_bucket: bucket '{self.bucket}' not found.") from None
        except exceptions.Forbidden as error:
            raise UserError(
                f"{FIELD}.staging_bucket: cannot write to bucket '{self.bucket}':"
                f" {service_reason(error)}"
            ) from None

    def connect(self, spark: SparkSession) -> Finished | None:
        """The load job of an earlier attempt of this run that succeeded — the driver was
        killed during or after it — is this run's publish: nothing is loaded again, so a
        WRITE_APPEND never loads the rows twice. The storage-api engine derives its load job's
        id from the run id; the connector's load job carries this run's label."""
        self.engine = choose_engine(spark, self.options, FIELD)
        self.location = self._dataset_location()
        if self.engine == CONNECTOR:
            earlier = earlier_connector_load(self.client, self.table, self.marker)
        else:
            earlier, self.attempt = earlier_load(
                self.client, self.job_name, self.run_id, self.location
            )
        if earlier is None:
            return None
        self.abort()  # what that attempt may have left in staging
        return Finished(
            f"{self.table} already holds this run's results: load job {earlier.job_id}"
            " of an earlier attempt succeeded; nothing written again",
            loaded_rows(earlier),
        )

    def output_exists(self) -> bool:
        self.existing = self._existing_table()
        return self.existing is not None

    def output_places(self, recording: bool) -> list[Place]:
        places = [Place(f"{FIELD}.table", self.describe(), self.table.location)]
        if recording:
            errors = f"errors table {self.errors_table}"
            places.append(Place(self.errors_field, errors, self.errors_table.location))
        return places

    def check_writable(self, exists: bool) -> None:
        if not exists and self.options.create_disposition == "CREATE_NEVER":
            raise UserError(
                f"{FIELD}.options.createDisposition: CREATE_NEVER but {self.table} does not exist."
            )
        self._check_bucket()

    def records_target(self) -> RecordsTarget:
        """The errors table's SaveMode applied now; the records staged under ``errors/``."""
        self.errors = ErrorsTable(
            self.client, self.errors_table, self.errors_field, self.job_name, self.run_id,
            self.marker, self.location,
        )  # fmt: skip
        self.errors.prepare(self.save_mode)
        return RecordsTarget(self.staging.child(RECORDS_FOLDER).uri, self.emulator)

    # -------------------------------------------------------------------- write
    def _appending(self) -> bool:
        return self.existing is not None and self.spec.save_mode is SaveMode.APPEND

    def _load_schema(self, schema: list[Any]) -> list[Any]:
        """The explicit load schema: the DataFrame's, or for an APPEND the table's (checked)."""
        if not self._appending():
            return schema
        options = self.options
        problems = incompatible_columns(
            self.existing.schema,
            schema,
            options.allow_field_addition,
            options.allow_field_relaxation,
        )
        if problems:
            raise UserError(f"{FIELD}.table: cannot APPEND to {self.table}: {'; '.join(problems)}.")
        return append_fields(self.existing.schema, schema, options.allow_field_relaxation)

    # --------------------------------------------------------------- connector
    def _stage_for_connector(self, predictions: Predictions, key: ResumeKey | None) -> Staged:
        """The connector publishes as it writes: every row is scored and counted first (kept
        in memory or on disk), so row errors are judged before it is handed anything. Nothing
        of an earlier attempt can be reused: the scored rows lived in its executors."""
        why = "the connector engine keeps the scored rows in the executors, not in staging"
        resumed = not_resumable(self.staging.uri, self.emulator, key, why)
        frame = self._persisted = predictions.frame().persist(StorageLevel.MEMORY_AND_DISK)
        return Staged(rows=frame.count(), held=frame, resumed=resumed)

    def _write_with_connector(self, staged: Staged) -> int | None:
        options = {k: v for k, v in connector_options(self.options).items() if k != BUCKET_OPTION}
        (
            staged.held.write.format("bigquery")
            .mode(self.save_mode.value.lower())
            .option("table", str(self.table))
            .option(BUCKET_OPTION, self.bucket)
            .options(**options, **connector_job_labels(self.marker, staged.rows))
            .save()
        )
        return staged.rows

    def _request(
        self, staged: list[StagedFile], schema: list[Any], rows: int | None = None
    ) -> LoadRequest:
        existing = self.existing
        return LoadRequest(
            uris=[self.staging.child(f.name).uri for f in staged],
            table=self.table,
            schema=schema,
            source_format=FORMATS[self.format],
            write_disposition=WRITE_DISPOSITIONS[self.spec.save_mode],
            schema_update_options=schema_update_options(self.options) if self._appending() else [],
            time_partitioning=existing.time_partitioning if existing is not None else None,
            clustering_fields=existing.clustering_fields if existing is not None else None,
            rows=rows,
        )

    def _load(self, staged: list[StagedFile], schema: list[Any], rows: int | None) -> None:
        """Create the table if it is missing, then ONE load job; on failure the destination is
        left as it was (a table created here is dropped) unless the load succeeded after all."""
        created = False
        try:
            if self.existing is None:
                create_table(self.client, self.table, schema, self.options, self.marker)
                created = True
            run_load(self.client, self._request(staged, schema, rows), self.job_name, self.run_id,
                     self.attempt, self.location)  # fmt: skip
        except BaseException as error:
            try:
                loaded = load_outcome(
                    self.client, self.job_name, self.run_id, self.attempt, self.location
                )
            except Exception as unknown:  # BigQuery unreachable: keep the table for the rerun
                log.warning("%s: cannot tell how the load ended: %s", self.table, unknown)
                raise error from None
            if loaded:
                log.warning("%s: the load succeeded despite %r; the result stands", self.table,
                            error)  # fmt: skip
                if isinstance(error, Exception):
                    return
                raise
            if created:  # leave the destination exactly as it was: absent
                self.client.delete_table(str(self.table), not_found_ok=True, retry=TRANSIENT_RETRY)
            user_error = isinstance(error, exceptions.BadRequest | exceptions.Forbidden)
            if user_error and not rate_limited(error):
                raise UserError(
                    f"{FIELD}.table: loading into {self.table} failed: {service_reason(error)}"
                ) from None
            raise

    # ------------------------------------------------------------------ protocol
    def stage(self, predictions: Predictions, key: ResumeKey | None = None) -> Staged:
        check_columns(self.options, predictions.columns.all, f"{FIELD}.options")
        if self.errors is not None:
            self._records_schema = records_schema(predictions.input_schema)
        if self.engine == CONNECTOR:
            return self._stage_for_connector(predictions, key)
        check_stageable(predictions.schema, self.format, FIELD)
        load_schema = self._load_schema(bigquery_schema(predictions.schema))
        if self._appending():  # the staged files hold exactly the table's columns
            predictions = predictions.laid_out(aligned_columns(predictions.schema, load_schema))
        target = StageTarget(self.staging.uri, staging_encoding(self.format), self.emulator)
        files, resumed = stage_resumable(predictions, target, key)
        rows = sum(f.rows for f in files)
        if not files:  # one load job all the same: an OVERWRITE still empties the table
            files = [stage_empty(target, predictions.schema, f"part-empty.{self.format}")]
        return Staged(files, rows, held=load_schema, resumed=resumed)

    def commit(self, staged: Staged, report: ErrorReport | None) -> int | None:
        if report is not None and report.failed:
            log.warning(
                "%s: %d of %d instances failed and are not in the table; first: %s",
                self.table, report.failed, report.total, report.first_example(),
            )  # fmt: skip
        try:
            if self.engine == CONNECTOR:
                rows = self._write_with_connector(staged)
            else:
                self._load(staged.files, staged.held, staged.rows)
                rows = staged.rows
            if report is not None and self.errors is not None:
                self._load_records(report.record_files)
        finally:
            self.abort()
        return rows

    def _load_records(self, files: tuple[str, ...]) -> None:
        """The error records into the errors table; with none, an empty load all the same
        (the table is created, or emptied under OVERWRITE: it holds this run's records)."""
        assert self.errors is not None
        folder = self.staging.child(RECORDS_FOLDER)
        if not files:
            gcs.write_bytes(gcs.client(self.emulator), folder.child("none.json"), b"")
            files = ("none.json",)
        uris = [folder.child(name).uri for name in files]
        self.errors.load(uris, self._records_schema, WRITE_DISPOSITIONS[self.save_mode])

    def abort(self) -> None:
        if self._persisted is not None:
            self._persisted.unpersist()
            self._persisted = None
        try:
            gcs.delete_prefix(gcs.client(self.emulator), self.staging)
        except exceptions.GoogleAPICallError as error:  # cleaning must not hide the real error
            log.warning("could not delete staging %s: %s", self.staging.uri, error)


def open_bigquery_sink(spec: BigQuerySink, job_name: str, run_id: str) -> Sink:
    return BigQueryTableSink(spec, job_name, run_id)
