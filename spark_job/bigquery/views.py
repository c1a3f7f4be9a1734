"""Reading a view the way the connector does: materialize it into a temporary table first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId

VIEW_TYPES = ("VIEW", "MATERIALIZED_VIEW")
#: A safety net: were the driver killed before it drops the table, BigQuery expires it.
TEMPORARY_TABLE_LIFETIME = dt.timedelta(hours=24)


def materialization_table(view: TableId, options: dict[str, str]) -> TableId:
    return TableId(
        options.get("viewMaterializationProject", view.project),
        options.get("viewMaterializationDataset", view.dataset),
        f"_spark_job_{view.table}_{uuid.uuid4().hex[:12]}",
    )


def materialize_view(
    client: Any, view: TableId, columns: list[str], row_filter: str | None, target: TableId
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
    client.query(sql, retry=TRANSIENT_RETRY).result()


def drop_table(client: Any, table: TableId) -> None:
    client.delete_table(str(table), not_found_ok=True, retry=TRANSIENT_RETRY)
