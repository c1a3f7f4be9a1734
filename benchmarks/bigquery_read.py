"""The storage-api engine reading a BigQuery table from the emulator, against one process reading
the same kind of read session with ``BigQueryReadClient`` directly.

    python -m benchmarks.bigquery_read [ROWS]

bqemulator serves one stream per read session, so both sides read one stream: the ratio shows
what the Spark data source costs over a bare client, not parallel speed-up.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PROJECT = "bench-project"
TABLE = f"{PROJECT}.bench.wide"
COLUMNS = [f"f{i}" for i in range(8)]


def _load_table(rows: int, gcs_root: Path) -> None:
    from google.cloud import bigquery

    from spark_job.bigquery.clients import bigquery_client

    values = np.random.default_rng(0).normal(size=(rows, len(COLUMNS)))
    table = pa.table({"id": np.arange(rows, dtype=np.int64)} | {
        name: values[:, i] for i, name in enumerate(COLUMNS)
    })  # fmt: skip
    (gcs_root / "bench-bucket").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, gcs_root / "bench-bucket" / "wide.parquet")
    client = bigquery_client(PROJECT)
    client.create_dataset(f"{PROJECT}.bench", exists_ok=True)
    schema = [bigquery.SchemaField("id", "INT64")] + [
        bigquery.SchemaField(name, "FLOAT64") for name in COLUMNS
    ]
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    client.load_table_from_uri("gs://bench-bucket/wide.parquet", TABLE, job_config=config).result()


def read_direct() -> int:
    """One process: create a read session and read its streams with the bare client."""
    from google.cloud.bigquery_storage_v1 import types

    from spark_job.bigquery.clients import bigquery_read_client

    client = bigquery_read_client()
    session = client.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(
            table=f"projects/{PROJECT}/datasets/bench/tables/wide",
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(selected_fields=["id", *COLUMNS]),
        ),
        max_stream_count=0,
    )
    schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
    rows = 0
    for stream in session.streams:
        for response in client.read_rows(stream.name):
            batch = pa.ipc.read_record_batch(
                pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema
            )
            rows += batch.num_rows
    return rows


def read_with_engine(spark: Any) -> int:
    from spark_job.sources.bigquery import BigQueryTableSource
    from spark_job.spec import BigQuerySource

    source = BigQueryTableSource(
        BigQuerySource(
            table=TABLE, features=COLUMNS, passthrough=["id"], options={"engine": "storage-api"}
        )  # fmt: skip
    )
    frame = source.read(spark)
    frame.write.format("noop").mode("overwrite").save()
    return int(source.estimated_rows or 0)


def run(rows: int = 1_000_000) -> dict[str, Any]:
    from spark_job.dev.emulators import Emulators
    from spark_job.session import build_session

    root = Path(tempfile.mkdtemp(prefix="bench_bq_"))
    emulators = Emulators(project=PROJECT, gcs_root=root / "gcs").start(log_dir=root)
    os.environ.update(emulators.environment)
    try:
        _load_table(rows, root / "gcs")
        spark = build_session("bench-bq", local=True, master="local[2]")
        read_with_engine(spark)  # warm the session and the Python workers
        engine: list[float] = []
        direct: list[float] = []
        for _ in range(3):  # alternate
            started = time.perf_counter()
            read_with_engine(spark)
            engine.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert read_direct() == rows
            direct.append(time.perf_counter() - started)
        spark.stop()
    finally:
        emulators.stop()
    engine_rate = rows / float(np.median(engine))
    direct_rate = rows / float(np.median(direct))
    return {
        "rows": rows,
        "engine_rows_per_s": engine_rate,
        "direct_rows_per_s": direct_rate,
        "ratio": engine_rate / direct_rate,
        "streams_per_session": 1,
    }


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
