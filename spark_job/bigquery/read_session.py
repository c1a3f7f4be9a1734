"""Creating the one BigQuery Storage read session a read uses (on the driver)."""

from __future__ import annotations

import base64
from typing import Any

from spark_job.bigquery.clients import bigquery_read_client, storage_read_emulator
from spark_job.bigquery.read_options import ReadOptions
from spark_job.bigquery.read_source import SessionHandle
from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId


def table_path(table: TableId) -> str:
    return f"projects/{table.project}/datasets/{table.dataset}/tables/{table.table}"


def create_read_session(
    table: TableId,
    columns: list[str],
    row_filter: str | None,
    options: ReadOptions,
    billing_project: str,
    default_parallelism: int,
) -> Any:
    """A read session on ``table``: ``columns`` only (empty: all), rows matching ``row_filter``,
    in ``options.data_format``, billed to ``billing_project``. Transient errors are retried;
    others (NotFound, Forbidden, BadRequest) are raised as the client raises them."""
    from google.cloud.bigquery_storage_v1 import types

    max_streams, preferred_streams = options.stream_counts(default_parallelism)
    session = types.ReadSession(
        table=table_path(table),
        data_format=types.DataFormat[options.data_format],
        read_options=types.ReadSession.TableReadOptions(
            selected_fields=columns, row_restriction=row_filter or ""
        ),
    )
    request = types.CreateReadSessionRequest(
        parent=f"projects/{billing_project}",
        read_session=session,
        max_stream_count=max_streams,
        preferred_min_stream_count=preferred_streams,
    )
    return bigquery_read_client().create_read_session(request=request, retry=TRANSIENT_RETRY)


def session_handle(session: Any) -> SessionHandle:
    """What executors need of ``session`` (streams, format, schema, endpoint), as plain data."""
    from google.cloud.bigquery_storage_v1 import types

    return SessionHandle(
        streams=[stream.name for stream in session.streams],
        data_format=types.DataFormat(session.data_format).name,
        arrow_schema_b64=base64.b64encode(session.arrow_schema.serialized_schema).decode(),
        avro_schema=session.avro_schema.schema,
        emulator_host=storage_read_emulator(),
    )
