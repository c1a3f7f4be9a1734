"""Reading Parquet on gs:// (fake-gcs-server): Spark's reader through the GCS connector jar
against the job's Python reader (a Spark Python data source reading objects with pyarrow).

    python -m benchmarks.gcs_read [ROWS]

Both read the same objects with ``FileSource`` as a job does (wildcard listing included), into
rows consumed by a ``noop`` write; medians of alternating repetitions after one warm-up each.
Skipped (``None``) when the GCS connector jar is not in jars/.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from typing import Any

PROJECT = "bench-project"
BUCKET = "bench-gcs-read"
FILES = 4
FEATURES = [f"f{i}" for i in range(8)]
REPETITIONS = 3


def upload_inputs(rows: int) -> None:
    """``FILES`` Parquet objects of ``rows`` rows in all: an id and 8 float features."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from google.cloud import storage

    bucket = storage.Client(project=PROJECT).create_bucket(BUCKET)
    values = np.random.default_rng(0).normal(size=(rows, len(FEATURES)))
    for index, part in enumerate(np.array_split(np.arange(rows), FILES)):
        columns = {"id": part.astype(np.int64)}
        columns.update({name: values[part, i] for i, name in enumerate(FEATURES)})
        buffer = io.BytesIO()
        pq.write_table(pa.table(columns), buffer)
        bucket.blob(f"input/part-{index:05d}.parquet").upload_from_string(buffer.getvalue())


def read_seconds(spark: Any, reader: str) -> float:
    from spark_job.sources.files import FileSource
    from spark_job.spec import FileFormat, GcsSource

    spec = GcsSource(
        format=FileFormat.PARQUET,
        uris=[f"gs://{BUCKET}/input/*"],
        features=FEATURES,
        passthrough=["id"],
        options={"reader": reader},
    )
    started = time.perf_counter()
    FileSource(spec).read(spark).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def run(rows: int = 2_000_000) -> dict[str, Any] | None:
    from spark_job.dev.emulators import exported_emulators
    from spark_job.run.session import build_session
    from spark_job.sources.files import has_gcs_connector

    with exported_emulators(PROJECT, "bench_gcs_read_"):
        spark = build_session("bench-gcs-read", local=True, master="local[2]")
        try:
            if not has_gcs_connector(spark):
                return None
            upload_inputs(rows)
            seconds: dict[str, list[float]] = {"spark": [], "python": []}
            for reader in seconds:  # warm-up: JIT, Python workers
                read_seconds(spark, reader)
            for _ in range(REPETITIONS):
                for reader, runs in seconds.items():
                    runs.append(read_seconds(spark, reader))
        finally:
            spark.stop()
    spark_rate = rows / statistics.median(seconds["spark"])
    python_rate = rows / statistics.median(seconds["python"])
    return {
        "rows": rows,
        "spark_reader_rows_per_s": round(spark_rate),
        "python_reader_rows_per_s": round(python_rate),
        "ratio_spark_vs_python": round(spark_rate / python_rate, 2),
        "seconds": seconds,
    }


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000))
