"""The storage-api engine reading a BigQuery table from the emulator, against one process
reading the same read session with ``BigQueryReadClient`` directly.

    python -m benchmarks.bigquery_read [ROWS]

The engine's read session asks for as many streams as Spark has cores (``maxParallelism``).
``ratio`` measures the engine as a job reads: the scoring tasks read their streams themselves
(``BigQueryTableSource.task_input``), in parallel, one Spark task per stream, and here count
each batch's rows where a job would give the batch to the model. The direct reader then reads
the very same session's streams one after the other in one process and decodes each Arrow
batch, which is the least any reader does. Both exclude creating the session. ``ratio`` is
engine rows/s over direct rows/s: above 1 the parallel streams outrun Spark's per-task costs.

``jvm_rows_ratio`` is the same read through the engine's Spark tasks into JVM rows (a ``noop``
write consumes every column): what a job pays when the input must pass through Spark (a cast
the model's signature asks for).

``connector_ratio`` is the spark-bigquery connector's read of the same table into JVM rows
(``noop``), over the direct read of an engine's session on it. The connector is served only for
Spark 3.5 here, so it is measured in the 3.5 line's environment (``.venv-3.5``, set up by ``make
bench``), in its own process with its own emulators and table:

    .venv-3.5/bin/python -m benchmarks.bigquery_read --connector [ROWS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = "bench-project"
DATASET = "bench"
TABLE = f"{PROJECT}.{DATASET}.features"
FEATURES = [f"f{i}" for i in range(8)]
REPETITIONS = 3
#: The Spark line whose environment measures ``connector_ratio`` (its connector is served).
CONNECTOR_LINE = "3.5"


def create_table(rows: int, gcs_root: Path) -> None:
    """``rows`` rows of an INT64 id and 8 FLOAT64 features, loaded from Parquet by a load job
    (bqemulator reads ``gs://b/o`` from the filesystem root it shares with fake-gcs-server)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    from spark_job.bigquery.clients import bigquery_client

    values = np.random.default_rng(0).normal(size=(rows, len(FEATURES)))
    columns = {"id": np.arange(rows, dtype=np.int64)}
    columns.update({name: values[:, i] for i, name in enumerate(FEATURES)})
    bucket = gcs_root / "bench-bucket"
    bucket.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), bucket / "features.parquet")
    client = bigquery_client(PROJECT)
    client.create_dataset(f"{PROJECT}.{DATASET}", exists_ok=True)
    schema = [bigquery.SchemaField("id", "INT64")]
    schema += [bigquery.SchemaField(name, "FLOAT64") for name in FEATURES]
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    job = client.load_table_from_uri("gs://bench-bucket/features.parquet", TABLE, job_config=config)
    job.result(timeout=600)


def _engine_source(streams: int) -> Any:
    from spark_job.sources.bigquery import BigQueryTableSource
    from spark_job.spec import BigQuerySource

    options = {"engine": "storage-api", "maxParallelism": str(streams)}
    return BigQueryTableSource(
        BigQuerySource(table=TABLE, features=FEATURES, passthrough=["id"], options=options)
    )


def _count_rows(read: Any) -> Any:
    """A task's read, reduced to its row count (one row per task)."""
    import pyarrow as pa

    def count(batches: Any) -> Any:
        rows = sum(batch.num_rows for batch in read(batches))
        yield pa.RecordBatch.from_pydict({"rows": [rows]})

    return count


def read_with_engine(spark: Any, streams: int) -> tuple[Any, float]:
    """The storage-api engine as a job reads (the tasks read their streams): returns (session
    handle, seconds of reading)."""
    source = _engine_source(streams)
    frame = source.read(spark)  # creates the read session (not timed)
    task_input = source.task_input(frame, 10_000)
    if task_input is None:
        raise RuntimeError("the engine's streams are not read by the tasks")
    started = time.perf_counter()
    counted = task_input.frame(spark).mapInArrow(_count_rows(task_input.read), "rows long")
    rows = sum(row["rows"] for row in counted.collect())
    seconds = time.perf_counter() - started
    source.close()
    if rows != source.estimated_rows:
        raise RuntimeError(f"the engine read {rows} rows of {source.estimated_rows}")
    return source.session, seconds


def read_into_jvm_rows(spark: Any, streams: int) -> float:
    """The engine's Spark data source into JVM rows (``noop`` write): seconds of reading."""
    source = _engine_source(streams)
    frame = source.read(spark)
    started = time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    source.close()
    return seconds


def read_with_connector(spark: Any, streams: int) -> float:
    """The spark-bigquery connector's read into JVM rows (``noop`` write): seconds of reading,
    its read session included (the connector makes it as the read starts)."""
    frame = (
        spark.read.format("bigquery").option("table", TABLE)
        .option("maxParallelism", str(streams)).option("readDataFormat", "ARROW").load()
    )  # fmt: skip
    started = time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def read_directly(handle: Any) -> tuple[int, float]:
    """One process reads every stream of ``handle``'s session and decodes its Arrow batches."""
    import base64

    import pyarrow as pa

    from spark_job.bigquery.clients import bigquery_read_client

    client = bigquery_read_client(handle.emulator_host)
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(handle.arrow_schema_b64)))
    rows = 0
    started = time.perf_counter()
    for stream in handle.streams:
        for response in client.read_rows(stream):
            serialized = response.arrow_record_batch.serialized_record_batch
            rows += pa.ipc.read_record_batch(pa.py_buffer(serialized), schema).num_rows
    return rows, time.perf_counter() - started


def _measure(rows: int, connector: bool) -> dict[str, Any]:
    """Start emulators, create a ``rows``-row table, and measure the readers (median of 3):
    the engine, its JVM rows and the direct read; with ``connector``, the connector and the
    direct read."""
    from pyspark.sql import SparkSession

    from spark_job.dev.emulators import exported_emulators
    from spark_job.run.session import build_session

    with exported_emulators(PROJECT, "bench_bigquery_read_") as emulators:
        own_session = SparkSession.getActiveSession() is None
        spark = build_session("bench-bigquery-read", local=True, master="local[2]")
        try:
            create_table(rows, emulators.gcs_root)
            streams = max(1, spark.sparkContext.defaultParallelism)
            read_with_engine(spark, streams)  # warm-up: Python workers, JIT, emulator caches
            second = read_with_connector if connector else read_into_jvm_rows
            second(spark, streams)
            engine, others, direct = [], [], []
            for _ in range(REPETITIONS):
                handle, seconds = read_with_engine(spark, streams)
                engine.append(seconds)
                others.append(second(spark, streams))
                read, seconds = read_directly(handle)
                if read != rows:
                    raise RuntimeError(f"the direct reader read {read} rows of {rows}")
                direct.append(seconds)
        finally:
            if own_session:
                spark.stop()
    direct_rate = rows / statistics.median(direct)
    other_rate = rows / statistics.median(others)
    if connector:
        return {"connector_rows_per_s": round(other_rate),
                "connector_direct_rows_per_s": round(direct_rate),
                "connector_ratio": round(other_rate / direct_rate, 3)}  # fmt: skip
    engine_rate = rows / statistics.median(engine)
    return {
        "rows": rows,
        "streams": len(handle.streams),
        "engine_rows_per_s": round(engine_rate),
        "direct_rows_per_s": round(direct_rate),
        "ratio": round(engine_rate / direct_rate, 3),
        "jvm_rows_per_s": round(other_rate),
        "jvm_rows_ratio": round(other_rate / direct_rate, 3),
    }


def connector_on_its_line(rows: int) -> dict[str, Any]:
    """``connector_ratio`` measured in the environment of the line whose connector is served."""
    import json
    import os
    import subprocess

    from spark_job.spark_lines import LINES

    repo = Path(__file__).resolve().parent.parent
    python = repo / LINES[CONNECTOR_LINE].venv / "bin" / "python"
    if not python.is_file():
        raise RuntimeError(f"no {python}: run make setup SPARK={CONNECTOR_LINE}")
    done = subprocess.run(
        [str(python), "-m", "benchmarks.bigquery_read", "--connector", str(rows)],
        capture_output=True, text=True, cwd=repo, timeout=3600,
        env={**os.environ, "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python)},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the connector's read on Spark {CONNECTOR_LINE} failed:\n"
                           f"{done.stderr[-3000:]}")  # fmt: skip
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {**measured, "connector_spark_line": CONNECTOR_LINE}


def run(rows: int = 10_000_000) -> dict[str, Any]:
    """The engine's figures on this line, and the connector's on its own line."""
    return {**_measure(rows, connector=False), **connector_on_its_line(rows)}


if __name__ == "__main__":
    import json

    arguments = sys.argv[1:]
    if arguments[:1] == ["--connector"]:
        size = int(arguments[1]) if len(arguments) > 1 else 10_000_000
        print(json.dumps(_measure(size, connector=True)))
    else:
        print(run(int(arguments[0]) if arguments else 10_000_000))
