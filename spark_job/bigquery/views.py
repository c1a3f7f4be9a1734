"""Reading a view the way the connector does: materialize it into a temporary table first.

The Storage Read API reads tables only. With ``viewsEnabled: true`` the selected columns of the
view (and the ``filter``) are written by one query job into a new table in
``viewMaterializationProject``.``viewMaterializationDataset`` (default: the view's own), which
is read and then dropped by :func:`drop_table` — the source's ``close``, which the runner calls
whether the job succeeded or not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId

VIEW_TYPES = ("VIEW", "MATERIALIZED_VIEW")
TEMPORARY_PREFIX = "_spark_job_"
#: A safety net: were the driver killed before it drops the table, BigQuery expires it.
TEMPORARY_TABLE_LIFETIME = dt.timedelta(hours=24)


def materialization_table(view: TableId, project: str | None, dataset: str | None) -> TableId:
    """A new, unique table name for ``view``'s rows in ``project``.``dataset`` (default: the
    view's own project and dataset)."""
    return TableId(
        project or view.project,
        dataset or view.dataset,
        f"{TEMPORARY_PREFIX}{view.table}_{uuid.uuid4().hex[:12]}",
    )


def materialize_view(
    client: Any,
    view: TableId,
    columns: list[str],
    row_filter: str | None,
    target: TableId,
    location: str | None = None,
) -> None:
    """Write ``columns`` of ``view`` (filtered) into the new table ``target`` with a query job.

    A ``CREATE TABLE … AS SELECT`` with an expiration: were the driver killed before it drops
    the table, BigQuery removes it after :data:`TEMPORARY_TABLE_LIFETIME`.
    """
    selected = ", ".join(f"`{name}`" for name in columns)
    hours = int(TEMPORARY_TABLE_LIFETIME.total_seconds() // 3600)
    sql = (
        f"CREATE TABLE `{target}`"
        f" OPTIONS(expiration_timestamp=TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {hours} HOUR))"
        f" AS SELECT {selected} FROM `{view}`" + (f" WHERE {row_filter}" if row_filter else "")
    )
    client.query(sql, location=location, retry=TRANSIENT_RETRY).result(retry=TRANSIENT_RETRY)


def drop_table(client: Any, table: TableId) -> None:
    client.delete_table(str(table), not_found_ok=True, retry=TRANSIENT_RETRY)
