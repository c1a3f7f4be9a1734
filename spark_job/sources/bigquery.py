"""A BigQuery table or view as the job's input, through either engine (see bigquery/engine.py)."""

from __future__ import annotations

import base64
import logging
from typing import Any

from google.api_core import exceptions
from pyspark.sql import DataFrame, SparkSession

from spark_job.bigquery.clients import (
    bigquery_client,
    bigquery_read_client,
    default_project,
    storage_read_emulator,
)
from spark_job.bigquery.engine import CONNECTOR, choose_engine, connector_options
from spark_job.bigquery.read_source import FORMAT_NAME, BigQueryStorageDataSource, SessionHandle
from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId, parse_table_id
from spark_job.bigquery.types import spark_schema
from spark_job.bigquery.views import VIEW_TYPES, drop_table, materialization_table, materialize_view
from spark_job.errors import UserError
from spark_job.sources.base import SourceReader, select_columns
from spark_job.spec import BigQuerySource

FIELD = "bigquerySource"
DATA_FORMATS = ("ARROW", "AVRO")

log = logging.getLogger(__name__)


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def _positive_int(options: dict[str, str], key: str) -> int:
    text = options.get(key)
    if text is None:
        return 0
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 1:
        raise UserError(f"{FIELD}.options.{key}: expected a positive integer, got '{text}'.")
    return number


def table_access_error(error: Exception, table: TableId) -> UserError | None:
    """A user error for what BigQuery says about a table the user named, else None."""
    if isinstance(error, exceptions.NotFound):
        return UserError(f"{FIELD}.table: table or view {table} not found.")
    if isinstance(error, exceptions.Forbidden):
        return UserError(f"{FIELD}.table: permission denied reading {table}: {error.message}")
    if isinstance(error, exceptions.BadRequest):
        return UserError(f"{FIELD}: BigQuery rejected the read of {table}: {error.message}")
    return None


class BigQueryTableSource(SourceReader):
    """Reads ``bigquerySource.table`` with the engine its options choose."""

    def __init__(self, spec: BigQuerySource) -> None:
        self.spec = spec
        self.options = spec.options
        self.project = self.options.get("parentProject") or default_project()
        self.table = parse_table_id(
            spec.table, f"{FIELD}.table", self.options.get("project") or self.project
        )
        self._client: Any = None
        self._temporary_table: TableId | None = None

    # ------------------------------------------------------------------ connector
    def _read_with_connector(self, spark: SparkSession) -> DataFrame:
        reader = spark.read.format("bigquery").option("table", str(self.table))
        return reader.options(**connector_options(self.options)).load()

    # ---------------------------------------------------------------- storage-api
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = bigquery_client(self.project or self.table.project)
        return self._client

    def _get_table(self) -> Any:
        try:
            return self.client.get_table(str(self.table), retry=TRANSIENT_RETRY)
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None

    def _readable_table(self, table: Any, columns: list[str]) -> TableId:
        """The table to open a read session on: the table itself, or a view's materialization."""
        if table.table_type not in VIEW_TYPES:
            return self.table
        if not _is_true(self.options.get("viewsEnabled")):
            raise UserError(
                f"{FIELD}.table: {self.table} is a view; views are read only with"
                f" {FIELD}.options.viewsEnabled: true (the view is then materialized into a"
                " temporary table)."
            )
        target = materialization_table(self.table, self.options)
        self._temporary_table = target
        try:
            materialize_view(self.client, self.table, columns, self.options.get("filter"), target)
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None
        log.warning("%s: view %s materialized into %s", FIELD, self.table, target)
        return target

    def _read_session(self, table: TableId, columns: list[str], row_filter: str | None) -> Any:
        from google.cloud.bigquery_storage_v1 import types

        data_format = self.options.get("readDataFormat", "ARROW").strip().upper()
        if data_format not in DATA_FORMATS:
            raise UserError(
                f"{FIELD}.options.readDataFormat: '{data_format}' is not one of ARROW, AVRO."
            )
        read_options = types.ReadSession.TableReadOptions(
            selected_fields=columns, row_restriction=row_filter or ""
        )
        session = types.ReadSession(
            table=f"projects/{table.project}/datasets/{table.dataset}/tables/{table.table}",
            data_format=types.DataFormat[data_format],
            read_options=read_options,
        )
        parent = f"projects/{self.options.get('parentProject') or table.project}"
        try:
            request = types.CreateReadSessionRequest(
                parent=parent,
                read_session=session,
                max_stream_count=_positive_int(self.options, "maxParallelism"),
                preferred_min_stream_count=_positive_int(self.options, "preferredMinParallelism"),
            )
            return bigquery_read_client().create_read_session(
                request=request, retry=TRANSIENT_RETRY
            )
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None

    def _read_with_storage_api(self, spark: SparkSession) -> DataFrame:
        table = self._get_table()
        passthrough, features = select_columns(
            [f.name for f in table.schema], self.spec.features, self.spec.passthrough, FIELD
        )
        columns = [*passthrough, *features]
        readable = self._readable_table(table, columns)
        row_filter = None if self._temporary_table else self.options.get("filter")
        session = self._read_session(readable, columns, row_filter)
        self.estimated_rows = int(session.estimated_row_count or 0) or None
        by_name = {f.name: f for f in table.schema}
        handle = SessionHandle(
            streams=[stream.name for stream in session.streams],
            data_format=types_name(session),
            arrow_schema_b64=base64.b64encode(session.arrow_schema.serialized_schema).decode(),
            avro_schema=session.avro_schema.schema,
            emulator_host=storage_read_emulator(),
        )
        spark.dataSource.register(BigQueryStorageDataSource)
        schema = spark_schema([by_name[name] for name in columns])
        if not handle.streams:  # an empty table or filter: BigQuery gives no stream
            return spark.createDataFrame([], schema)
        return (
            spark.read.format(FORMAT_NAME)
            .option("session", handle.to_json())
            .option("schema", schema.json())
            .load()
        )

    # ---------------------------------------------------------------- interface
    def read(self, spark: SparkSession) -> DataFrame:
        engine = choose_engine(spark, self.options, FIELD)
        if engine == CONNECTOR:
            frame = self._read_with_connector(spark)
        else:
            frame = self._read_with_storage_api(spark)
        passthrough, features = select_columns(
            frame.columns, self.spec.features, self.spec.passthrough, FIELD
        )
        return frame.select(*passthrough, *features)

    def close(self) -> None:
        if self._temporary_table is not None:
            drop_table(self.client, self._temporary_table)
            self._temporary_table = None


def types_name(session: Any) -> str:
    from google.cloud.bigquery_storage_v1 import types

    return types.DataFormat(session.data_format).name


def open_bigquery_source(spec: BigQuerySource) -> SourceReader:
    return BigQueryTableSource(spec)
