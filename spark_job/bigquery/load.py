"""The driver's side of a BigQuery write: table creation, one load job, idempotency.

The load job's id is derived from the job name and the run id, which stays the same when
spark-operator restarts a failed driver (see :mod:`spark_job.run.run_id`). A rerun finds the load
job of an earlier attempt: if it succeeded, the data is already in place and the job completes
without writing again; if it failed, the next id (``…_retry1``) is used.

A table the sink creates carries the label ``spark_job_run`` (a digest of job name and run id):
a driver that died after creating the table but before its load finished leaves an empty
table, which the restarted driver recognises as its own — still "missing" for the SaveMode —
instead of failing on it or appending next to nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions

from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId
from spark_job.errors import UserError
from spark_job.spec.options import BigQueryWriteOptions

RUN_LABEL = "spark_job_run"
#: The load job's label with the number of rows it loads (what the staged files hold): a
#: rerun that finds the job reports it (the job's ``outputRows`` is not counted alike by
#: every backend).
ROWS_LABEL = "spark_job_rows"
#: Reasons a finished load job failed for which a new load job may succeed.
TRANSIENT_JOB_REASONS = ("backendError", "internalError", "rateLimitExceeded", "jobBackendError")
#: Load jobs tried per run before giving up on transient failures.
MAX_LOAD_ATTEMPTS = 3
#: How long to wait for a load job still running when something else failed.
SETTLE_SECONDS = 50.0

log = logging.getLogger(__name__)


#: The retry of job inserts and polls (403 rateLimitExceeded included, as everywhere).
LOAD_RETRY = TRANSIENT_RETRY


def load_job_id(job_name: str, run_id: str, attempt: int = 0) -> str:
    """A load-job id unique to this job run, the same on every restart of its driver."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", f"spark_job_{job_name}_{run_id}")[:1000]
    return base if attempt == 0 else f"{base}_retry{attempt}"


def run_marker(job_name: str, run_id: str) -> str:
    """The ``spark_job_run`` label value of a table this run created (a valid label value)."""
    return hashlib.sha256(f"{job_name}/{run_id}".encode()).hexdigest()[:32]


def created_by_run(table: Any, marker: str) -> bool:
    """Whether ``table`` is an empty table this run created (in an earlier, dead attempt)."""
    return (table.labels or {}).get(RUN_LABEL) == marker and not table.num_rows


def find_job(client: Any, job_id: str, location: str | None) -> Any | None:
    try:
        return client.get_job(job_id, location=location, retry=TRANSIENT_RETRY)
    except exceptions.NotFound:
        return None


def succeeded(job: Any, timeout: float | None = None) -> bool:
    """Whether ``job`` finished without error; waits up to ``timeout`` for a running job."""
    if job.state != "DONE":
        try:
            job.result(timeout=timeout, retry=TRANSIENT_RETRY)
        except exceptions.GoogleAPICallError:
            return False
        except Exception:  # still running after ``timeout``: not (yet) a success
            return job.state == "DONE" and job.error_result is None
    return job.error_result is None


def loaded_rows(job: Any) -> int | None:
    """The rows a finished load job of this sink loaded: its label, else its statistics."""
    label = (job.labels or {}).get(ROWS_LABEL)
    if label is not None and label.isdigit():
        return int(label)
    rows = job.output_rows
    return None if rows is None else int(rows)


def earlier_load(
    client: Any, job_name: str, run_id: str, location: str | None
) -> tuple[Any | None, int]:
    """The successful load job of an earlier attempt of this run, if any, and the attempt
    number of the next load job."""
    attempt = 0
    while True:
        job = find_job(client, load_job_id(job_name, run_id, attempt), location)
        if job is None:
            return None, attempt
        if succeeded(job):
            return job, attempt
        attempt += 1


#: The connector's option that labels the load job it runs (``bigQueryJobLabel.<key>``).
CONNECTOR_JOB_LABEL = "bigQueryJobLabel."
#: How far back, and through how many of the caller's newest finished jobs, a rerun looks for
#: the connector's load job of an earlier attempt (a restarted driver reruns within minutes;
#: the bound keeps a busy project's job list from being paged through).
CONNECTOR_RERUN_WINDOW = dt.timedelta(days=2)
CONNECTOR_RERUN_JOBS = 1000


def connector_job_labels(marker: str, rows: int) -> dict[str, str]:
    """The connector's options that label its load job with this run (``marker``) and the
    rows it loads, as the storage-api engine labels its own: a rerun finds it by them."""
    return {CONNECTOR_JOB_LABEL + RUN_LABEL: marker, CONNECTOR_JOB_LABEL + ROWS_LABEL: str(rows)}


def earlier_connector_load(client: Any, table: TableId, marker: str) -> Any | None:
    """The successful load job into ``table`` that the connector ran for this run (labelled by
    :func:`connector_job_labels`) in an earlier attempt, if any. The connector names its jobs
    itself, so they are looked up by label among the caller's newest finished jobs."""
    since = dt.datetime.now(dt.timezone.utc) - CONNECTOR_RERUN_WINDOW
    jobs = client.list_jobs(
        state_filter="done", min_creation_time=since, all_users=False,
        max_results=CONNECTOR_RERUN_JOBS, retry=TRANSIENT_RETRY,
    )  # fmt: skip
    for job in jobs:
        if getattr(job, "job_type", "") != "load" or (job.labels or {}).get(RUN_LABEL) != marker:
            continue
        destination = job.destination
        same = destination is not None and (
            destination.project,
            destination.dataset_id,
            destination.table_id,
        ) == (table.project, table.dataset, table.table)
        if same and job.error_result is None:
            return job
    return None


def check_columns(options: BigQueryWriteOptions, columns: list[str], field: str) -> None:
    """The partitioning and clustering columns of ``options`` are in the output."""
    for key, names in (
        ("partitionField", [options.partition_field]),
        ("clusteredFields", options.clustered_fields),
    ):
        for name in names:
            if name and name not in columns:
                raise UserError(
                    f"{field}.{key}: column '{name}' is not in the output ({', '.join(columns)})."
                )


def schema_update_options(options: BigQueryWriteOptions) -> list[str]:
    """The load job's schema update options (an APPEND that may change the table's schema)."""
    return [
        option
        for option, wanted in (
            ("ALLOW_FIELD_ADDITION", options.allow_field_addition),
            ("ALLOW_FIELD_RELAXATION", options.allow_field_relaxation),
        )
        if wanted
    ]


def time_partitioning(options: BigQueryWriteOptions) -> Any | None:
    from google.cloud import bigquery

    if not (options.partition_field or options.partition_type):
        return None
    return bigquery.TimePartitioning(
        type_=options.partition_type or "DAY",
        field=options.partition_field,
        expiration_ms=options.partition_expiration_ms,
    )


def create_table(
    client: Any, table_id: TableId, schema: list[Any], options: BigQueryWriteOptions, marker: str
) -> None:
    """Create the destination with its partitioning and clustering (a load config keeps neither
    on every backend, so the table is made first and the load only fills it), labelled with
    this run's ``marker``."""
    from google.cloud import bigquery

    table = bigquery.Table(str(table_id), schema=schema)
    table.time_partitioning = time_partitioning(options)
    if options.clustered_fields:
        table.clustering_fields = list(options.clustered_fields)
    table.labels = {RUN_LABEL: marker}
    try:
        client.create_table(table, retry=TRANSIENT_RETRY)
    except exceptions.Conflict:
        # A create retried after a dropped connection, whose first try had reached BigQuery:
        # the table is ours (our label, no rows). Another's table is a conflict.
        if not created_by_run(client.get_table(str(table_id), retry=TRANSIENT_RETRY), marker):
            raise


@dataclass(frozen=True)
class LoadRequest:
    """One load of staged files into an existing table."""

    uris: list[str]
    table: TableId
    schema: list[Any]
    source_format: str  # PARQUET, ORC or AVRO
    write_disposition: str
    schema_update_options: list[str]
    time_partitioning: Any | None = None
    clustering_fields: list[str] | None = None
    rows: int | None = None  # the rows the staged files hold, when counted

    def config(self) -> Any:
        from google.cloud import bigquery

        config = bigquery.LoadJobConfig(
            source_format=self.source_format,
            schema=self.schema,
            write_disposition=self.write_disposition,
            create_disposition="CREATE_NEVER",  # the sink created the table if it had to
            schema_update_options=self.schema_update_options or None,
        )
        # The table's own partitioning and clustering: a WRITE_TRUNCATE must not disagree.
        if self.time_partitioning is not None:
            config.time_partitioning = self.time_partitioning
        if self.clustering_fields:
            config.clustering_fields = self.clustering_fields
        if self.rows is not None:
            config.labels = {ROWS_LABEL: str(self.rows)}
        if self.source_format == "PARQUET":
            config.parquet_options = bigquery.ParquetOptions()
            config.parquet_options.enable_list_inference = True
        if self.source_format == "AVRO":
            config.use_avro_logical_types = True
        return config


def _start(client: Any, request: LoadRequest, job_id: str, location: str | None) -> Any:
    try:
        return client.load_table_from_uri(
            request.uris,
            str(request.table),
            job_id=job_id,
            location=location,
            job_config=request.config(),
            retry=LOAD_RETRY,
        )
    except exceptions.Conflict:  # a retried insert that had reached BigQuery: it is running
        return client.get_job(job_id, location=location, retry=TRANSIENT_RETRY)


def _transient(job: Any) -> bool:
    return (job.error_result or {}).get("reason") in TRANSIENT_JOB_REASONS


def run_load(
    client: Any,
    request: LoadRequest,
    job_name: str,
    run_id: str,
    first_attempt: int,
    location: str | None,
) -> Any:
    """Run ONE successful load job of ``request``; return it.

    A load job that fails for a transient reason had no effect (jobs are atomic) and is
    replaced by the next attempt's job, up to :data:`MAX_LOAD_ATTEMPTS` jobs in this driver.
    """
    attempt = first_attempt
    while True:
        job = _start(client, request, load_job_id(job_name, run_id, attempt), location)
        try:
            job.result(retry=LOAD_RETRY)
            return job
        except exceptions.GoogleAPICallError:
            if not _transient(job) or attempt - first_attempt + 1 >= MAX_LOAD_ATTEMPTS:
                raise
            log.warning("load job %s failed transiently (%s); retrying", job.job_id,
                        job.error_result)  # fmt: skip
            attempt += 1


def load_outcome(
    client: Any, job_name: str, run_id: str, attempt: int, location: str | None
) -> bool:
    """After a failure around a load: whether this run's latest load job succeeded after all
    (waiting a little for one still running), so that a result in place is never undone."""
    found = None
    while True:
        job = find_job(client, load_job_id(job_name, run_id, attempt), location)
        if job is None:
            break
        found, attempt = job, attempt + 1
    return found is not None and succeeded(found, timeout=SETTLE_SECONDS)
