"""Reading a view the way the connector does: materialize it into a temporary table first.

The Storage Read API reads tables only. With ``viewsEnabled: true`` the selected columns of the
view (and the ``filter``) are written by one query job into a new table in
``viewMaterializationProject``.``viewMaterializationDataset`` (default: the view's own), which
is read and then dropped by :func:`drop_table` — the source's ``close``, which the runner calls
whether the job succeeded or not.

:func:`base_tables` tells which tables a view reads, so that a sink never writes over them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from typing import Any

from google.api_core import exceptions

from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId, parse_table_id
from spark_job.errors import UserError

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


# ------------------------------------------------------------------------ base tables
#: A table name after FROM or JOIN: quoted (`p.d.t`, `p`.`d`.`t`) or dotted (d.t, p:d.t).
_REFERENCE = re.compile(
    r"\b(?:FROM|JOIN)\s+(`[^`]+`(?:\s*\.\s*`?[\w\-$]+`?)*|[\w\-]+(?:[.:][\w\-$]+){1,2})",
    re.IGNORECASE,
)


def tables_in_sql(sql: str, default_project: str) -> set[TableId]:
    """The tables ``sql`` names after FROM and JOIN (``dataset.table`` in
    ``default_project``). Best effort: CTE names, subqueries and UNNEST are not table ids and
    are skipped; a table named only after a comma is missed (the dry run finds it)."""
    found = set()
    for match in _REFERENCE.finditer(sql):
        text = re.sub(r"\s+", "", match.group(1)).replace("`", "")
        try:
            found.add(parse_table_id(text, "view", default_project))
        except UserError:
            continue
    return found


def dry_run_tables(client: Any, table: TableId, location: str | None = None) -> set[TableId]:
    """The tables a dry run of ``SELECT * FROM table`` references (free; none when BigQuery,
    or an emulator, does not say)."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    job = client.query(f"SELECT * FROM `{table}`", job_config=config, location=location)
    return {TableId(r.project, r.dataset_id, r.table_id) for r in job.referenced_tables or []}


def base_tables(
    client: Any, table: TableId, location: str | None = None, depth: int = 3
) -> set[TableId] | None:
    """The tables the view ``table`` reads — from its query text and a dry run, through
    nested views (``depth`` levels) — the views included; empty when ``table`` is no view
    (or does not exist: the read says so); None when neither source tells."""
    try:
        found = client.get_table(str(table), retry=TRANSIENT_RETRY)
    except exceptions.NotFound:
        return set()
    if found.table_type not in VIEW_TYPES:
        return set()
    named: set[TableId] = set()
    query = found.view_query or getattr(found, "mview_query", None)
    if query:
        named |= tables_in_sql(query, table.project)
    # no permission to run jobs: the query text is what is known
    with contextlib.suppress(exceptions.GoogleAPICallError):
        named |= dry_run_tables(client, table, location)
    named.discard(table)
    if not named:
        return None
    tables = set(named)
    for name in named if depth > 0 else ():
        tables |= base_tables(client, name, location, depth - 1) or set()
    return tables
