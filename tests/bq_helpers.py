"""Creating BigQuery test data in the emulator through google-cloud-bigquery."""

from __future__ import annotations

from typing import Any

from tests.conftest import EMULATOR_PROJECT


def bq_client() -> Any:
    from spark_job.bigquery.clients import bigquery_client

    return bigquery_client(EMULATOR_PROJECT)


def create_dataset(name: str) -> str:
    bq_client().create_dataset(f"{EMULATOR_PROJECT}.{name}", exists_ok=True, timeout=30)
    return f"{EMULATOR_PROJECT}.{name}"


def run_sql(sql: str) -> list[Any]:
    return list(bq_client().query(sql, timeout=30).result(timeout=60))


def create_table(table_id: str, schema: list[Any]) -> None:
    from google.cloud import bigquery

    bq_client().create_table(bigquery.Table(table_id, schema=schema), timeout=30)


def table_exists(table_id: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq_client().get_table(table_id, timeout=30)
        return True
    except NotFound:
        return False
