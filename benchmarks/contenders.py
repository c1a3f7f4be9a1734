"""One contender on one workload, in this (fresh) process; prints its timings as JSON.

    python -m benchmarks.contenders CONTENDER WORKLOAD ROWS OUTPUT_DIR [DRIVER_MEMORY [JOBS]]

Each contender reports ``startup_s`` — importing its libraries and, for the Spark contenders,
starting the SparkSession — and ``seconds``: one entry per job it runs (JOBS, default 2), each
everything from loading the model to the output written. The first job is *cold*: a fresh JVM
and fresh Python workers; the next ones are *warm*: the same process, so libraries imported and
the JVM's code compiled, but the model loaded again and all data read and written again. A
fresh process per contender means none inherits another's JVM or Python workers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.workloads import FEATURES, Workload, workload_named

CONTENDERS = ("single_process", "mlflow_spark_udf", "spark_job")
MASTER = "local[2]"


def _jobs(job: Callable[[Path], None], output: Path, jobs: int) -> list[float]:
    """Seconds of each of ``jobs`` runs of ``job``, each into a fresh ``output``."""
    seconds = []
    for _ in range(jobs):
        shutil.rmtree(output, ignore_errors=True)
        started = time.perf_counter()
        job(output)
        seconds.append(time.perf_counter() - started)
    return seconds


def single_process(workload: Workload, output: Path, memory: str, jobs: int) -> dict[str, Any]:
    """pyarrow read → ``pyfunc.predict`` → pyarrow write in one Python process (one core)."""
    began = time.perf_counter()
    import mlflow.pyfunc
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    started = time.perf_counter()

    def job(target: Path) -> None:
        model = mlflow.pyfunc.load_model(str(workload.model_dir))
        target.mkdir(parents=True)
        dataset = ds.dataset(str(workload.input_dir), format="parquet")
        for index, batch in enumerate(dataset.to_batches(batch_size=workload.batch_rows)):
            prediction = model.predict(batch.select(FEATURES).to_pandas())
            table = pa.Table.from_batches([batch]).append_column(
                "prediction", pa.array(prediction, type=pa.float64())
            )
            pq.write_table(table, target / f"part-{index:05d}.parquet")

    return {"startup_s": started - began, "seconds": _jobs(job, output, jobs)}


def _session(memory: str) -> Any:
    from spark_job.run.session import build_session

    conf = {"spark.driver.memory": memory, "spark.executor.memory": memory}
    return build_session("bench", local=True, master=MASTER, conf=conf)


def mlflow_spark_udf(workload: Workload, output: Path, memory: str, jobs: int) -> dict[str, Any]:
    """Stock ``mlflow.pyfunc.spark_udf`` in the same local[2] session, same files in and out."""
    began = time.perf_counter()
    import mlflow.pyfunc

    spark = _session(memory)
    started = time.perf_counter()

    def job(target: Path) -> None:
        udf = mlflow.pyfunc.spark_udf(spark, str(workload.model_dir), result_type="double")
        frame = spark.read.parquet(str(workload.input_dir))
        frame.withColumn("prediction", udf(*FEATURES)).write.parquet(str(target))

    seconds = _jobs(job, output, jobs)
    spark.stop()
    return {"startup_s": started - began, "seconds": seconds}


def spark_job(workload: Workload, output: Path, memory: str, jobs: int) -> dict[str, Any]:
    """Our job through ``run_job`` (what the CLI calls after building its session)."""
    began = time.perf_counter()
    from spark_job.run.runner import run_job
    from spark_job.spec import parse_spec_text

    spark = _session(memory)
    started = time.perf_counter()
    runs = iter(range(jobs))

    def job(target: Path) -> None:
        spec = parse_spec_text(
            f"""
kind: PredictionJob
name: bench
gcsSource: {{format: PARQUET, uri: "{workload.input_dir}", features: {FEATURES},
             passthrough: [id]}}
model: {{type: PYFUNC, uri: "{workload.model_dir}", result: {{type: DOUBLE}}}}
gcsSink: {{format: PARQUET, uri: "{target}", save_mode: OVERWRITE}}
"""
        )
        result = run_job(spark, spec, "bench", f"bench{next(runs)}")
        if result.rows_written != workload.rows:
            raise RuntimeError(f"spark_job wrote {result.rows_written} rows of {workload.rows}")

    seconds = _jobs(job, output, jobs)
    spark.stop()
    return {"startup_s": started - began, "seconds": seconds}


def main(argv: list[str]) -> None:
    contender, name, rows, output = argv[0], argv[1], int(argv[2]), Path(argv[3])
    memory = argv[4] if len(argv) > 4 else "2g"
    jobs = int(argv[5]) if len(argv) > 5 else 2
    if contender not in CONTENDERS:
        raise SystemExit(f"unknown contender {contender!r}; one of {', '.join(CONTENDERS)}")
    workload = workload_named(name, rows)
    shutil.rmtree(output, ignore_errors=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    timing = globals()[contender](workload, output, memory, jobs)
    shutil.rmtree(output, ignore_errors=True)
    print("BENCH " + json.dumps({**timing, "rows": rows}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
