"""``engine: connector`` reads: the real spark-bigquery connector (3.5) against bqemulator."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud import bigquery

from spark_job.run.runner import run_job
from spark_job.sources.bigquery import open_bigquery_source
from spark_job.spec import parse_spec_text
from tests.bq_helpers import bq_client
from tests.conftest import EMULATOR_PROJECT
from tests.connector.conftest import DATASET
from tests.models import save_probe_model
from tests.test_cli import assert_user_error, run_cli

TABLE = f"{EMULATOR_PROJECT}.{DATASET}.readings"
VIEW = f"{EMULATOR_PROJECT}.{DATASET}.readings_view"
ROWS = [
    {"key": f"k{i}", "x": i * 0.5, "y": i, "day": f"2024-0{1 + i % 3}-1{i}", "extra": "unused"}
    for i in range(6)
]


@pytest.fixture(scope="module")
def read_env(connector_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    client = bq_client()
    schema = [
        bigquery.SchemaField("key", "STRING"),
        bigquery.SchemaField("x", "FLOAT64"),
        bigquery.SchemaField("y", "INT64"),
        bigquery.SchemaField("day", "DATE"),
        bigquery.SchemaField("extra", "STRING"),
    ]
    client.delete_table(TABLE, not_found_ok=True)
    client.create_table(bigquery.Table(TABLE, schema=schema))
    assert not client.insert_rows_json(TABLE, ROWS)
    client.delete_table(VIEW, not_found_ok=True)
    view = bigquery.Table(VIEW)
    view.view_query = f"SELECT key, x, y FROM `{TABLE}` WHERE y >= 2"  # through the REST API
    client.create_table(view)
    root = tmp_path_factory.mktemp("connector_read")
    save_probe_model(root / "sum", "sum")
    save_probe_model(root / "year", "year")
    return root


def _spec(root: Path, out: str, table: str = TABLE, features: str = "[x, y]",
          model: str = "sum", options: str = "") -> str:  # fmt: skip
    return f"""
bigquerySource:
  table: {table}
  features: {features}
  passthrough: [key]
  options: {{engine: connector{options}}}
model: {{uri: {root / model}}}
gcsSink: {{format: PARQUET, uri: {root / out}}}
"""


def _run(spark: Any, text: str, name: str) -> pd.DataFrame:
    result = run_job(spark, parse_spec_text(text), name, f"run-{name}")
    assert result.status == "COMPLETED"
    return pd.read_parquet(result.destination).sort_values("key").reset_index(drop=True)


@pytest.mark.parametrize("data_format", ["ARROW", "AVRO"])
def test_reads_the_rows_through_a_filter_in_either_format(
    connector_spark: Any, read_env: Path, data_format: str
) -> None:
    options = f", readDataFormat: {data_format}, filter: 'y > 1', maxParallelism: '2'"
    out = _run(connector_spark, _spec(read_env, f"out_{data_format}", options=options),
               f"read_{data_format.lower()}")  # fmt: skip
    assert list(out.columns) == ["key", "x", "y", "prediction"]
    assert out["key"].tolist() == ["k2", "k3", "k4", "k5"]
    assert out["prediction"].tolist() == [r["x"] + r["y"] for r in ROWS[2:]]


def test_the_connector_is_asked_for_the_selected_columns_only(
    connector_spark: Any, read_env: Path
) -> None:
    spec = parse_spec_text(_spec(read_env, "unused", options=", maxParallelism: '1'"))
    source = open_bigquery_source(spec.source)
    frame = source.read(connector_spark)
    assert frame.columns == ["key", "x", "y"]
    plan = frame._jdf.queryExecution().executedPlan().toString()  # type: ignore[attr-defined]
    scan = re.search(r"BatchScan readings\[(.*?)\] Reading table \[(.*?)\]", plan)
    assert scan is not None, plan  # the connector's scan, its read session made
    assert re.sub(r"#\d+L?", "", scan[1]) == "key, x, y" and scan[2] == TABLE, plan
    assert frame.rdd.getNumPartitions() == 1  # maxParallelism: 1 stream


def test_a_date_feature_reaches_the_model_as_a_datetime(
    connector_spark: Any, read_env: Path
) -> None:
    text = _spec(read_env, "out_year", features="[day]", model="year")
    out = _run(connector_spark, text, "read_date")
    expected = [dt.date.fromisoformat(r["day"]).year for r in ROWS]
    assert out["prediction"].tolist() == expected


def test_a_view_is_read_with_views_enabled(connector_spark: Any, read_env: Path) -> None:
    text = _spec(read_env, "out_view", table=VIEW, options=", viewsEnabled: 'true'")
    out = _run(connector_spark, text, "read_view")
    assert out["key"].tolist() == ["k2", "k3", "k4", "k5"]
    assert out["prediction"].tolist() == [r["x"] + r["y"] for r in ROWS[2:]]


def test_a_view_without_views_enabled_is_a_user_error(read_env: Path) -> None:
    spec = read_env / "view_refused.yaml"
    spec.write_text(_spec(read_env, "out_refused", table=VIEW))
    proc = run_cli("--job-name", "view_refused", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "bigquerySource.options.viewsEnabled: true")
    assert not (read_env / "out_refused").exists()
