"""Predictions into a BigQuery table through a GCS staging bucket (the connector's indirect write).

storage-api engine: SaveMode decided on the driver before any prediction; executors stage their
partitions under ``gs://STAGING/<job>-<run id>/``; the driver creates the table if needed (with
partitioning and clustering) and runs ONE load job — WRITE_TRUNCATE for OVERWRITE, an atomic
replace — whose id is stable across driver restarts; staging is deleted whatever happens.
connector engine: ``df.write.format("bigquery")`` with the user's options.
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions
from pyspark.sql import DataFrame, SparkSession

from spark_job import gcs
from spark_job.bigquery.clients import bigquery_client, default_project
from spark_job.bigquery.engine import CONNECTOR, choose_engine, connector_options
from spark_job.bigquery.load import (
    TableOptions,
    create_table,
    earlier_load,
    run_load,
)
from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.schema import bigquery_schema, incompatible_columns
from spark_job.bigquery.staging import FORMATS, source_format, stage_partitions
from spark_job.bigquery.table_id import parse_table_id
from spark_job.errors import UserError
from spark_job.job_name import validate_job_name
from spark_job.sinks.base import OutputColumns, SinkWriter
from spark_job.spec import BigQuerySink, SaveMode

FIELD = "bigquerySink"
WRITE_DISPOSITIONS = {
    SaveMode.OVERWRITE: "WRITE_TRUNCATE",
    SaveMode.APPEND: "WRITE_APPEND",
    SaveMode.ERRORIFEXISTS: "WRITE_EMPTY",
    SaveMode.ERROR: "WRITE_EMPTY",
    SaveMode.IGNORE: "WRITE_EMPTY",
}

log = logging.getLogger(__name__)


class BigQueryTableSink(SinkWriter):
    def __init__(self, spec: BigQuerySink, job_name: str, run_id: str) -> None:
        self.spec = spec
        self.options = spec.options
        self.job_name = validate_job_name(job_name)
        self.run_id = run_id
        bucket = spec.staging_bucket or self.options.get("temporaryGcsBucket")
        if not bucket:
            raise UserError(
                f"{FIELD}.staging_bucket: required (or {FIELD}.options.temporaryGcsBucket): the"
                " results are staged in this GCS bucket before BigQuery loads them."
            )
        self.bucket = bucket.removeprefix("gs://").strip("/")
        self.project = self.options.get("parentProject") or default_project()
        self.table = parse_table_id(
            spec.table, f"{FIELD}.table", self.options.get("project") or self.project
        )
        self.table_options = TableOptions.from_options(self.options, f"{FIELD}.options")
        self.format = source_format(self.options, FIELD)
        self.staging = gcs.GcsPath(self.bucket, f"{self.job_name}-{run_id}")
        self.emulator = gcs.emulator_host()
        self.engine = ""
        self.existing: Any = None
        self.job_id = ""
        self._client: Any = None

    @property
    def destination(self) -> str:
        return str(self.table)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = bigquery_client(self.project or self.table.project)
        return self._client

    # ------------------------------------------------------------------ prepare
    def _existing_table(self) -> Any:
        try:
            self.client.get_dataset(self.table.dataset_id, retry=TRANSIENT_RETRY)
        except exceptions.NotFound:
            raise UserError(
                f"{FIELD}.table: dataset {self.table.dataset_id} not found; create it first."
            ) from None
        try:
            return self.client.get_table(str(self.table), retry=TRANSIENT_RETRY)
        except exceptions.NotFound:
            return None

    def _check_bucket(self) -> None:
        """The staging bucket exists and takes writes (a probe object, deleted at once)."""
        storage = gcs.client(self.emulator)
        probe = self.staging.child("_probe")
        try:
            storage.get_bucket(self.bucket)
            gcs.write_bytes(storage, probe, b"")
            gcs.delete(storage, probe)
        except exceptions.NotFound:
            raise UserError(f"{FIELD}.staging_bucket: bucket '{self.bucket}' not found.") from None
        except exceptions.Forbidden as error:
            raise UserError(
                f"{FIELD}.staging_bucket: cannot write to bucket '{self.bucket}': {error.message}"
            ) from None

    def prepare(self, spark: SparkSession) -> bool:
        self.engine = choose_engine(spark, self.options, FIELD)
        if self.engine != CONNECTOR:
            earlier, self.job_id = earlier_load(self.client, self.job_name, self.run_id)
            if earlier is not None:
                self.skip_reason = (
                    f"{self.table} already holds this run's results: load job {earlier.job_id}"
                    " of an earlier attempt succeeded; nothing written again"
                )
                return False
        self.existing = self._existing_table()
        mode = self.spec.save_mode
        if self.existing is not None:
            if mode.fails_if_exists:
                raise UserError(
                    f"{FIELD}.table: {self.table} already exists and {FIELD}.save_mode is"
                    f" {mode.value}; use OVERWRITE, APPEND or IGNORE, or another table."
                )
            if mode is SaveMode.IGNORE:
                self.skip_reason = f"{self.table} exists and save_mode is IGNORE; nothing predicted"
                return False
        elif self.table_options.create_disposition == "CREATE_NEVER":
            raise UserError(
                f"{FIELD}.options.createDisposition: CREATE_NEVER but {self.table} does not exist."
            )
        self._check_bucket()
        return True

    # -------------------------------------------------------------------- write
    def _check_schema(self, schema: list[Any], columns: list[str]) -> None:
        self.table_options.check_columns(columns, f"{FIELD}.options")
        if self.existing is None or self.spec.save_mode is not SaveMode.APPEND:
            return
        problems = incompatible_columns(
            self.existing.schema,
            schema,
            self.table_options.allow_field_addition,
            self.table_options.allow_field_relaxation,
        )
        if problems:
            raise UserError(f"{FIELD}.table: cannot APPEND to {self.table}: {'; '.join(problems)}.")

    def _write_with_connector(self, predictions: DataFrame) -> None:
        (
            predictions.write.format("bigquery")
            .mode(self.spec.save_mode.value.lower())
            .option("table", str(self.table))
            .option("temporaryGcsBucket", self.bucket)
            .options(**connector_options(self.options))
            .save()
        )

    def _load(self, staged: list[tuple[str, int]], schema: list[Any]) -> None:
        created = False
        try:
            if self.existing is None:
                create_table(self.client, self.table, schema, self.table_options)
                created = True
            if staged:
                uris = [f"gs://{self.bucket}/{name}" for name, _ in staged]
                disposition = WRITE_DISPOSITIONS[self.spec.save_mode]
                run_load(
                    self.client, self.job_id, uris, self.table, schema,
                    FORMATS[self.format], disposition, self.table_options,
                )  # fmt: skip
            elif self.existing is not None and self.spec.save_mode is SaveMode.OVERWRITE:
                self.client.query(f"TRUNCATE TABLE `{self.table}`").result()
        except BaseException as error:
            if created:  # leave the destination exactly as it was: absent
                self.client.delete_table(str(self.table), not_found_ok=True)
            if isinstance(error, exceptions.BadRequest):
                raise UserError(
                    f"{FIELD}.table: loading into {self.table} failed: {error.message}"
                ) from None
            raise

    def write(self, predictions: DataFrame, columns: OutputColumns) -> int | None:
        schema = bigquery_schema(predictions.schema)
        self._check_schema(schema, predictions.columns)
        if self.engine == CONNECTOR:
            self._write_with_connector(predictions)
            return None
        try:
            staged = stage_partitions(
                predictions, self.bucket, self.staging.name, self.format, self.emulator
            )
            self.staged()  # raises if too many rows failed: then nothing is loaded
            self._load(staged, schema)
        finally:
            self.abort()
        return sum(rows for _, rows in staged)

    def abort(self) -> None:
        try:
            gcs.delete_prefix(gcs.client(self.emulator), self.staging)
        except exceptions.GoogleAPICallError as error:  # cleaning must not hide the real error
            log.warning("could not delete staging %s: %s", self.staging.uri, error)


def open_bigquery_sink(spec: BigQuerySink, job_name: str, run_id: str) -> SinkWriter:
    return BigQueryTableSink(spec, job_name, run_id)
