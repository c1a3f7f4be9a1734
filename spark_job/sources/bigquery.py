"""A BigQuery table or view as the job's input, through either engine (see bigquery/engine.py).

- connector: ``spark.read.format("bigquery")`` with ``table`` and the user's options;
- storage-api: one Storage read session made here on the driver, read by the Spark Python
  Data Source of ``bigquery/read_source.py`` (one partition per stream, Arrow batches).
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions
from pyspark.sql import DataFrame, DataFrameReader, SparkSession

from spark_job.bigquery.api_errors import service_reason
from spark_job.bigquery.clients import bigquery_client, default_project
from spark_job.bigquery.engine import (
    CONNECTOR,
    CONNECTOR_FORMAT,
    choose_engine,
    connector_missing_error,
    connector_options,
)
from spark_job.bigquery.read_options import ReadOptions, unused
from spark_job.bigquery.read_session import create_read_session, session_handle
from spark_job.bigquery.read_source import SessionHandle, StreamTaskRead
from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId, parse_table_id
from spark_job.bigquery.types import spark_schema
from spark_job.bigquery.views import (
    VIEW_TYPES,
    base_tables,
    drop_table,
    materialization_table,
    materialize_view,
)
from spark_job.errors import UserError, unreachable_service
from spark_job.scoring.row_errors import RowErrors
from spark_job.sources.base import SourceReader, TaskInput, select_columns
from spark_job.spec import BigQuerySource
from spark_job.storage.locations import Place

FIELD = "bigquerySource"

log = logging.getLogger(__name__)


def table_access_error(error: Exception, table: TableId) -> UserError | None:
    """A user error for what BigQuery says about a table the user named, else None."""
    if isinstance(error, exceptions.NotFound):
        return UserError(f"{FIELD}.table: table or view {table} not found.")
    if isinstance(error, exceptions.Forbidden):
        reason = service_reason(error)
        return UserError(f"{FIELD}.table: permission denied reading {table}: {reason}")
    if isinstance(error, exceptions.BadRequest):  # e.g. a filter BigQuery cannot parse
        reason = service_reason(error)
        return UserError(f"{FIELD}: BigQuery rejected the read of {table}: {reason}")
    return None


class BigQueryTableSource(SourceReader):
    """Reads ``bigquerySource.table`` with the engine its options choose."""

    def __init__(self, spec: BigQuerySource) -> None:
        self.spec = spec
        #: Typed (UserError for a bad option): ``load_spec`` checked them already.
        self.options = spec.typed_options
        #: The storage-api engine's view of them.
        self.read_options = ReadOptions.parse(self.options, FIELD)
        parent = self.options.parent_project
        self.table = parse_table_id(
            spec.table, f"{FIELD}.table", self.options.project or parent or default_project()
        )
        #: Bills the read session and runs query jobs (view materialization, counts).
        self.billing_project = parent or default_project() or self.table.project
        self._client: Any = None
        self._temporary_table: TableId | None = None
        #: The storage-api engine's read session once ``read`` made it (streams, format).
        self.session: SessionHandle | None = None
        #: The storage-api engine's frame as ``read`` returned it, and the Spark schema of
        #: its rows (for :meth:`task_input`).
        self._read: DataFrame | None = None
        self._schema_json = ""

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = bigquery_client(self.billing_project)
        return self._client

    # ------------------------------------------------------------------ connector
    def connector_reader(self, spark: SparkSession) -> DataFrameReader:
        """Spark's reader for the connector: format ``bigquery``, ``table`` and every option
        but our ``engine`` — exactly what the connector receives."""
        reader = spark.read.format(CONNECTOR_FORMAT).option("table", str(self.table))
        return reader.options(**connector_options(self.options))

    def _read_with_connector(self, spark: SparkSession) -> DataFrame:
        """The connector reads; a missing table or a view without ``viewsEnabled`` is told
        first, in the words the storage-api engine uses (not in the connector's exception)."""
        self._check_view(self._get_table(), self.read_options)
        try:
            return self.connector_reader(spark).load()
        except Exception as error:
            raise connector_missing_error(error, FIELD) or error from None

    # ---------------------------------------------------------------- storage-api
    def _get_table(self) -> Any:
        try:
            return self.client.get_table(str(self.table), retry=TRANSIENT_RETRY)
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None

    def _columns(self, table: Any) -> list[str]:
        passthrough, features = select_columns(
            [f.name for f in table.schema],
            self.spec.features,
            self.spec.passthrough,
            FIELD,
            where=f"{'view' if table.table_type in VIEW_TYPES else 'table'} {self.table}",
            model_inputs=self.model_inputs,
        )
        return [*passthrough, *features]

    def _check_view(self, table: Any, options: ReadOptions) -> None:
        if table.table_type in VIEW_TYPES and not options.views_enabled:
            raise UserError(
                f"{FIELD}.table: {self.table} is a view; views are read only with"
                f" {FIELD}.options.viewsEnabled: true (the view is then materialized into a"
                " temporary table)."
            )

    def _readable_table(self, table: Any, columns: list[str], options: ReadOptions) -> TableId:
        """The table to open a read session on: the table itself, or a view's materialization."""
        self._check_view(table, options)
        if table.table_type not in VIEW_TYPES:
            return self.table
        target = materialization_table(
            self.table, options.materialization_project, options.materialization_dataset
        )
        self._temporary_table = target  # dropped by close(), even if the query job fails
        try:
            materialize_view(
                self.client, self.table, columns, options.row_filter, target, options.location
            )
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None
        log.info("%s: view %s materialized into %s", FIELD, self.table, target)
        return target

    def _read_with_storage_api(self, spark: SparkSession) -> DataFrame:
        options = self.read_options
        ignored = unused(self.options)
        if ignored:
            log.warning("%s.options: not used by the storage-api engine: %s", FIELD, ignored)
        table = self._get_table()
        columns = self._columns(table)
        by_name = {f.name: f for f in table.schema}
        schema = spark_schema([by_name[name] for name in columns], options.types)
        readable = self._readable_table(table, columns, options)
        row_filter = None if readable != self.table else options.row_filter  # views: applied
        try:
            session = create_read_session(
                readable,
                columns,
                row_filter,
                options,
                self.billing_project,
                spark.sparkContext.defaultParallelism,
            )
        except exceptions.GoogleAPICallError as error:
            raise table_access_error(error, self.table) or error from None
        estimate = int(session.estimated_row_count or 0)
        if not estimate and readable == self.table and not row_filter:
            estimate = int(table.num_rows or 0)  # metadata; free
        self.estimated_rows = estimate or None
        handle = self.session = session_handle(session)
        log.info(
            "%s: read session on %s: %d stream(s), %s", FIELD, readable, len(handle.streams),
            handle.data_format,
        )  # fmt: skip
        if not handle.streams:  # an empty table or filter: BigQuery gives no stream
            return spark.createDataFrame([], schema)
        self._schema_json = schema.json()
        streams = TaskInput(len(handle.streams), StreamTaskRead(handle, self._schema_json))
        return streams.read_frame(spark, schema)

    # ---------------------------------------------------------------- interface
    def check_options(self) -> None:
        """Also the credentials: the client is made here, before Spark starts (it looks up
        Application Default Credentials), so a user without any is told at once."""
        self.client  # noqa: B018 - making it is the check

    def input_places(self) -> list[Place]:
        return [Place(f"{FIELD}.table", self.spec.table, self.table.location)]

    def read_through(self) -> list[Place]:
        """A view's base tables (through nested views): from its query and a dry run."""
        try:
            bases = base_tables(self.client, self.table, self.options.location)
        except UserError:  # no credentials
            raise
        except Exception as error:  # no access: the read will tell
            if unreachable_service(error):  # BigQuery is down: no read either
                raise
            log.warning("%s: cannot tell what %s reads: %s", FIELD, self.table, error)
            return []
        if bases is None:
            log.warning(
                "%s: BigQuery does not tell which tables the view %s reads; only the view"
                " itself is checked against the output", FIELD, self.table,
            )  # fmt: skip
            return []
        return [
            Place(f"{FIELD}.table", self.spec.table, base.location, through=str(base))
            for base in sorted(bases, key=str)
        ]

    def read(
        self, spark: SparkSession, errors: RowErrors | None = None, count_rows: bool = False
    ) -> DataFrame:
        engine = choose_engine(spark, self.options, FIELD)
        if engine == CONNECTOR:
            frame = self._read_with_connector(spark)
        else:
            frame = self._read_with_storage_api(spark)
        passthrough, features = select_columns(
            frame.columns, self.spec.features, self.spec.passthrough, FIELD,
            f"table {self.table}", self.model_inputs,
        )  # fmt: skip
        self._read = frame.select(*passthrough, *features)
        return self._read

    def task_input(self, frame: DataFrame, batch_rows: int) -> TaskInput | None:
        """The storage-api engine's streams read by the scoring tasks themselves, one task
        per stream (BigQuery sizes the batches), when ``frame`` is what :meth:`read`
        returned (nothing cast for the model) and the session has streams."""
        if frame is not self._read or self.session is None or not self.session.streams:
            return None  # a session with streams always has its schema (_schema_json)
        read = StreamTaskRead(self.session, self._schema_json)
        log.info("%s: %d read stream(s) read by the scoring tasks", FIELD, read.tasks)
        return TaskInput(read.tasks, read)

    def close(self) -> None:
        if self._temporary_table is not None:
            drop_table(self.client, self._temporary_table)
            log.info("%s: temporary table %s dropped", FIELD, self._temporary_table)
            self._temporary_table = None


def open_bigquery_source(spec: BigQuerySource) -> SourceReader:
    return BigQueryTableSource(spec)
