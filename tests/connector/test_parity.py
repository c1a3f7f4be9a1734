"""The same job through the real connector (Spark 3.5) and through the storage-api engine
(Spark 4.1, the default line's environment, as a subprocess) writes identical tables. (Merlin's
README sample spec runs unchanged on the 3.5 lane, with the connector picked by ``auto``:
``tests/test_bigquery_sink.py::test_merlin_readme_sample_bigquery_to_bigquery_through_the_cli``.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.cloud import bigquery

from spark_job.spark_lines import DEFAULT_LINE, LINES
from tests.bq_helpers import bq_client, run_sql
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.connector.conftest import BUCKET, DATASET
from tests.models import save_probe_model
from tests.test_cli import run_cli

SOURCE = f"{EMULATOR_PROJECT}.{DATASET}.parity_source"
COLUMNS = [
    bigquery.SchemaField("key", "STRING"),
    bigquery.SchemaField("x", "FLOAT64"),
    bigquery.SchemaField("n", "INT64"),
    bigquery.SchemaField("flag", "BOOL"),
    bigquery.SchemaField("day", "DATE"),
    bigquery.SchemaField("at", "TIMESTAMP"),
    bigquery.SchemaField("amount", "NUMERIC"),
]
ROWS = [
    {"key": f"k{i}", "x": i / 4, "n": i * 10, "flag": i % 2 == 0, "day": f"2024-03-0{i + 1}",
     "at": f"2024-03-0{i + 1}T12:00:0{i}Z", "amount": f"{i}.25"}
    for i in range(5)
]  # fmt: skip


@pytest.fixture(scope="module")
def parity_env(connector_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    client = bq_client()
    client.delete_table(SOURCE, not_found_ok=True)
    client.create_table(bigquery.Table(SOURCE, schema=COLUMNS))
    assert not client.insert_rows_json(SOURCE, ROWS)
    root = tmp_path_factory.mktemp("parity")
    save_probe_model(root / "model", "sum")
    return root


def _spec(root: Path, table: str, engine: str) -> Path:
    path = root / f"{table}.yaml"
    path.write_text(f"""
bigquerySource:
  table: {SOURCE}
  features: [x, n, flag, day, at, amount]
  passthrough: [key]
  options: {{engine: {engine}}}
model: {{uri: {root / "model"}}}
bigquerySink:
  table: {EMULATOR_PROJECT}.{DATASET}.{table}
  save_mode: OVERWRITE
  options: {{engine: {engine}, temporaryGcsBucket: {BUCKET}}}
""")
    return path


def _table(name: str) -> tuple[list[tuple[str, str, str]], list[tuple[Any, ...]]]:
    table = bq_client().get_table(f"{EMULATOR_PROJECT}.{DATASET}.{name}")
    schema = [(f.name, f.field_type, f.mode) for f in table.schema]
    found = run_sql(f"SELECT * FROM `{EMULATOR_PROJECT}.{DATASET}.{name}` ORDER BY key")
    return schema, [tuple(row.values()) for row in found]


def test_connector_on_3_5_and_storage_api_on_4_1_write_identical_tables(
    connector_spark: Any, parity_env: Path
) -> None:
    spec = _spec(parity_env, "parity_connector", "connector")
    connector = run_cli("--job-name", "parity_connector", "--local", "--spec-path", str(spec))
    assert connector.returncode == 0, connector.stderr[-3000:]
    default_python = REPO_ROOT / LINES[DEFAULT_LINE].venv / "bin" / "python"
    assert default_python.is_file(), "the default line's environment: run make setup"
    spec = _spec(parity_env, "parity_storage_api", "storage-api")
    storage_api = subprocess.run(
        [str(default_python), "-m", "spark_job", "--job-name", "parity_storage_api", "--local",
         "--spec-path", str(spec)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": str(default_python),
             "PYSPARK_DRIVER_PYTHON": str(default_python)},
    )  # fmt: skip
    assert storage_api.returncode == 0, storage_api.stderr[-3000:]
    assert "instances: 5 succeeded" in connector.stdout + storage_api.stdout
    by_connector, by_storage_api = _table("parity_connector"), _table("parity_storage_api")
    assert by_connector[0] == by_storage_api[0]  # names, types, modes
    assert by_connector[1] == by_storage_api[1]  # every value
    assert len(by_connector[1]) == 5
