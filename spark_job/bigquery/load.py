"""The driver's side of a BigQuery write: table creation, one load job, idempotency.

The load job's id is derived from the job name and the run id, which stays the same when
spark-operator restarts a failed driver. A rerun finds the load job of an earlier attempt: if it
succeeded, the data is already in place and the job completes without writing again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions

from spark_job.bigquery.retry import TRANSIENT_RETRY
from spark_job.bigquery.table_id import TableId
from spark_job.errors import UserError

PARTITION_TYPES = ("DAY", "HOUR", "MONTH", "YEAR")
CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def load_job_id(job_name: str, run_id: str, attempt: int = 0) -> str:
    """A load-job id unique to this job run, the same on every restart of its driver."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", f"spark_job_{job_name}_{run_id}")[:1000]
    return base if attempt == 0 else f"{base}_retry{attempt}"


def find_job(client: Any, job_id: str) -> Any | None:
    try:
        return client.get_job(job_id, retry=TRANSIENT_RETRY)
    except exceptions.NotFound:
        return None


def succeeded(job: Any) -> bool:
    if job.state != "DONE":
        try:
            job.result()
        except exceptions.GoogleAPICallError:
            return False
    return job.error_result is None


def earlier_load(client: Any, job_name: str, run_id: str) -> tuple[Any | None, str]:
    """The successful load job of an earlier attempt of this run, if any, and the id to use now."""
    attempt = 0
    while True:
        job_id = load_job_id(job_name, run_id, attempt)
        job = find_job(client, job_id)
        if job is None:
            return None, job_id
        if succeeded(job):
            return job, job_id
        attempt += 1


@dataclass(frozen=True)
class TableOptions:
    """The connector's table options, validated (``field`` is e.g. ``bigquerySink.options``)."""

    create_disposition: str = "CREATE_IF_NEEDED"
    partition_field: str | None = None
    partition_type: str | None = None
    partition_expiration_ms: int | None = None
    clustered_fields: tuple[str, ...] = ()
    allow_field_addition: bool = False
    allow_field_relaxation: bool = False

    @classmethod
    def from_options(cls, options: dict[str, str], field: str) -> TableOptions:
        disposition = options.get("createDisposition", "CREATE_IF_NEEDED").strip().upper()
        if disposition not in CREATE_DISPOSITIONS:
            raise UserError(
                f"{field}.createDisposition: '{disposition}' is not one of"
                f" {', '.join(CREATE_DISPOSITIONS)}."
            )
        partition_type = options.get("partitionType")
        if partition_type is not None:
            partition_type = partition_type.strip().upper()
            if partition_type not in PARTITION_TYPES:
                raise UserError(
                    f"{field}.partitionType: '{partition_type}' is not one of"
                    f" {', '.join(PARTITION_TYPES)}."
                )
        expiration = options.get("partitionExpirationMs")
        if expiration is not None and (not expiration.isdigit() or int(expiration) <= 0):
            raise UserError(f"{field}.partitionExpirationMs: expected a positive integer.")
        clustered = tuple(
            c.strip() for c in options.get("clusteredFields", "").split(",") if c.strip()
        )
        if len(clustered) > 4:
            raise UserError(f"{field}.clusteredFields: BigQuery clusters on at most 4 columns.")
        return cls(
            create_disposition=disposition,
            partition_field=options.get("partitionField") or None,
            partition_type=partition_type,
            partition_expiration_ms=int(expiration) if expiration else None,
            clustered_fields=clustered,
            allow_field_addition=_is_true(options.get("allowFieldAddition")),
            allow_field_relaxation=_is_true(options.get("allowFieldRelaxation")),
        )

    def check_columns(self, columns: list[str], field: str) -> None:
        for key, names in (
            ("partitionField", [self.partition_field]),
            ("clusteredFields", self.clustered_fields),
        ):
            for name in names:
                if name and name not in columns:
                    raise UserError(
                        f"{field}.{key}: column '{name}' is not in the output"
                        f" ({', '.join(columns)})."
                    )

    @property
    def schema_update_options(self) -> list[str]:
        return [
            option
            for option, wanted in (
                ("ALLOW_FIELD_ADDITION", self.allow_field_addition),
                ("ALLOW_FIELD_RELAXATION", self.allow_field_relaxation),
            )
            if wanted
        ]


def create_table(client: Any, table_id: TableId, schema: list[Any], options: TableOptions) -> None:
    """Create the destination with its partitioning and clustering (a load config keeps neither
    on every backend, so the table is made first and the load only fills it)."""
    from google.cloud import bigquery

    table = bigquery.Table(str(table_id), schema=schema)
    if options.partition_field or options.partition_type:
        table.time_partitioning = bigquery.TimePartitioning(
            type_=options.partition_type or "DAY",
            field=options.partition_field,
            expiration_ms=options.partition_expiration_ms,
        )
    if options.clustered_fields:
        table.clustering_fields = list(options.clustered_fields)
    client.create_table(table, retry=TRANSIENT_RETRY)


def run_load(
    client: Any,
    job_id: str,
    uris: list[str],
    table_id: TableId,
    schema: list[Any],
    source_format: str,
    write_disposition: str,
    options: TableOptions,
) -> Any:
    """Run ONE load job of ``uris`` into ``table_id``; return it when it succeeded."""
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(
        source_format=source_format,
        schema=schema,
        write_disposition=write_disposition,
        create_disposition="CREATE_NEVER",
        schema_update_options=options.schema_update_options or None,
    )
    if source_format == "PARQUET":
        config.parquet_options = bigquery.ParquetOptions()
        config.parquet_options.enable_list_inference = True
    if source_format == "AVRO":
        config.use_avro_logical_types = True
    job = client.load_table_from_uri(
        uris, str(table_id), job_id=job_id, job_config=config, retry=TRANSIENT_RETRY
    )
    job.result()
    return job
