"""The BigQuery sink's error records (RECORD_AND_CONTINUE): a table beside the results.

``<table>_errors``, or the table ``bigquerySink.errorsTable`` names, receives one row per
failed instance — ``instance`` (a RECORD of the input's passthrough and feature columns, plus
``raw``, the text of an input line the file reader could not use) and ``error`` (``code``,
``message``) — from the records' JSON lines (see :mod:`spark_job.scoring.error_records`), by
ONE load job with the results' SaveMode, after the results' load. The SaveMode is applied to
it before anything is read, as to the results' table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions
from pyspark.sql.types import StructType

from spark_job.bigquery.api_errors import service_reason
from spark_job.bigquery.load import (
    LoadRequest,
    create_table,
    created_by_run,
    earlier_load,
    load_outcome,
    run_load,
)
from spark_job.bigquery.retry import TRANSIENT_RETRY, rate_limited
from spark_job.bigquery.schema import bigquery_schema
from spark_job.bigquery.table_id import TableId, parse_table_id
from spark_job.errors import UserError
from spark_job.scoring.error_records import raw_key
from spark_job.scoring.row_errors import ORIGIN_COLUMNS
from spark_job.spec import BigQueryWriteOptions, SaveMode

#: The load job's source format: the records as the file sinks publish them.
SOURCE_FORMAT = "NEWLINE_DELIMITED_JSON"
#: Added to the job name in the errors load's job id (the results' load has the plain one).
JOB_SUFFIX = "_errors"

log = logging.getLogger(__name__)


def errors_table_id(
    table: TableId, errors_table: str | None, field: str, default_project: str | None
) -> TableId:
    """``errors_table`` as written (any form of ``table``), else ``<table>_errors``."""
    if errors_table:
        return parse_table_id(errors_table, field, default_project or table.project)
    return TableId(table.project, table.dataset, f"{table.table}_errors")


def records_schema(source: StructType) -> list[Any]:
    """The errors table's schema for an input of ``source``: ``instance`` holds its columns
    (the hidden origin columns left out; their presence means the file reader may leave
    instances out, whose text is the ``raw`` field) and ``error`` the code and message."""
    from google.cloud.bigquery import SchemaField

    instance = StructType([f for f in source.fields if f.name not in ORIGIN_COLUMNS])
    fields = bigquery_schema(instance)
    if len(instance.fields) < len(source.fields):
        fields.append(SchemaField(raw_key(instance.names), "STRING"))
    error = [SchemaField("code", "STRING"), SchemaField("message", "STRING")]
    return [
        SchemaField("instance", "RECORD", fields=fields),
        SchemaField("error", "RECORD", fields=error),
    ]


@dataclass
class ErrorsTable:
    """The error-records table of one run (driver only). ``field`` is the spec field that
    names it; ``marker`` the run's label of tables it creates (see :mod:`.load`)."""

    client: Any
    table: TableId
    field: str
    job_name: str
    run_id: str
    marker: str
    location: str | None
    existing: Any = None
    ignored: bool = False

    def prepare(self, save_mode: SaveMode) -> None:
        """Apply ``save_mode`` to the table, before anything is read: UserError if it exists
        under ERRORIFEXISTS; left alone (no records loaded) if it exists under IGNORE."""
        try:
            table = self.client.get_table(str(self.table), retry=TRANSIENT_RETRY)
        except exceptions.NotFound:
            table = None
        if table is not None and created_by_run(table, self.marker):  # a dead attempt's
            self.client.delete_table(str(self.table), not_found_ok=True, retry=TRANSIENT_RETRY)
            table = None
        self.existing = table
        if table is None:
            return
        if save_mode.fails_if_exists:
            raise UserError(
                f"{self.field}: table {self.table} (the error records) already exists and"
                f" bigquerySink.save_mode is {save_mode.value}; use OVERWRITE, APPEND or"
                " IGNORE, name another table in bigquerySink.errorsTable, or remove it."
            )
        if save_mode is SaveMode.IGNORE:
            log.warning("%s exists and save_mode is IGNORE: no error records loaded", self.table)
            self.ignored = True

    def load(self, uris: list[str], schema: list[Any], write_disposition: str) -> None:
        """ONE load job of the records at ``uris`` (the table created first if missing); on
        failure a table created here is dropped, unless the load succeeded after all."""
        if self.ignored:
            return
        job_name = f"{self.job_name}{JOB_SUFFIX}"
        earlier, attempt = earlier_load(self.client, job_name, self.run_id, self.location)
        if earlier is not None:  # an earlier attempt of this run loaded them
            return
        request = LoadRequest(uris, self.table, schema, SOURCE_FORMAT, write_disposition, [])
        created = False
        try:
            if self.existing is None:
                create_table(self.client, self.table, schema, BigQueryWriteOptions(), self.marker)
                created = True
            run_load(self.client, request, job_name, self.run_id, attempt, self.location)
        except Exception as error:
            if load_outcome(self.client, job_name, self.run_id, attempt, self.location):
                return
            if created:
                self.client.delete_table(str(self.table), not_found_ok=True, retry=TRANSIENT_RETRY)
            user_error = isinstance(error, exceptions.BadRequest | exceptions.Forbidden)
            if user_error and not rate_limited(error):
                raise UserError(
                    f"{self.field}: loading the error records into {self.table} failed (the"
                    f" results are loaded): {service_reason(error)}"
                ) from None
            raise
