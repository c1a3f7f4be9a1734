"""One contender on one workload, in this (fresh) process; prints its timings as JSON.

    python -m benchmarks.contenders CONTENDER WORKLOAD ROWS OUTPUT_DIR [DRIVER_MEMORY]

Each contender runs **one** job, the first of a fresh process — what every ``spark-submit``
user gets — and reports ``startup_s`` (importing its libraries and, for the Spark contenders,
starting the SparkSession; ``session_s`` is the SparkSession start alone) and ``seconds``:
everything from loading the model to the output written.

- ``single_process``: pyarrow read → ``pyfunc.predict`` → pyarrow write, one Python process;
- ``mlflow_spark_udf``: stock ``mlflow.pyfunc.spark_udf`` in a plain ``local[2]`` session
  (Spark's defaults; only the UI off and the driver memory set, as for ``spark_job``);
- ``spark_job``: the CLI itself (``spark_job.main.main``, as ``python -m spark_job --local``
  runs it) with ``--master local[2,4]``; its seconds are the job's own stages (prepare,
  predict, publish, report: every stage but the session's) from ``--status-path``, the
  session start from the same file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.workloads import FEATURES, Workload, workload_named

CONTENDERS = ("single_process", "mlflow_spark_udf", "spark_job")
MASTER = "local[2]"
#: The CLI's local master: 2 cores, 4 attempts per task (what ``--local`` gives on 2 cores).
CLI_MASTER = "local[2,4]"


def single_process(workload: Workload, output: Path, memory: str) -> dict[str, Any]:
    """pyarrow read → ``pyfunc.predict`` → pyarrow write in one Python process (one core)."""
    began = time.perf_counter()
    import mlflow.pyfunc
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(str(workload.model_dir))
    output.mkdir(parents=True)
    dataset = ds.dataset(str(workload.input_dir), format="parquet")
    for index, batch in enumerate(dataset.to_batches(batch_size=workload.batch_rows)):
        prediction = model.predict(batch.select(FEATURES).to_pandas())
        table = pa.Table.from_batches([batch]).append_column(
            "prediction", pa.array(prediction, type=pa.float64())
        )
        pq.write_table(table, output / f"part-{index:05d}.parquet")
    seconds = time.perf_counter() - started
    return {"startup_s": started - began, "session_s": 0.0, "seconds": seconds}


def mlflow_spark_udf(workload: Workload, output: Path, memory: str) -> dict[str, Any]:
    """Stock ``mlflow.pyfunc.spark_udf`` in a local[2] session, same files in and out."""
    began = time.perf_counter()
    import mlflow.pyfunc
    from pyspark.sql import SparkSession

    session_began = time.perf_counter()
    spark = (
        SparkSession.builder.master(MASTER)
        .appName("bench-mlflow")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    started = time.perf_counter()
    udf = mlflow.pyfunc.spark_udf(spark, str(workload.model_dir), result_type="double")
    frame = spark.read.parquet(str(workload.input_dir))
    frame.withColumn("prediction", udf(*FEATURES)).write.parquet(str(output))
    seconds = time.perf_counter() - started
    spark.stop()
    return {
        "startup_s": started - began,
        "session_s": started - session_began,
        "seconds": seconds,
    }


def spark_job(workload: Workload, output: Path, memory: str) -> dict[str, Any]:
    """The CLI, in this process: spec file in, status file out."""
    began = time.perf_counter()
    from spark_job.main import main

    work = Path(tempfile.mkdtemp(prefix="bench_spark_job_"))
    spec = work / "spec.yaml"
    spec.write_text(
        f"""kind: PredictionJob
name: bench
gcsSource: {{format: PARQUET, uri: "{workload.input_dir}", features: {FEATURES},
             passthrough: [id]}}
model: {{type: PYFUNC, uri: "{workload.model_dir}", result: {{type: DOUBLE}}}}
gcsSink: {{format: PARQUET, uri: "{output}", save_mode: OVERWRITE}}
"""
    )
    status = work / "status.json"
    # The driver's memory as spark-submit's --driver-memory (it wins over the session's conf).
    # BENCH_EXTRA_SUBMIT: more spark-submit arguments, e.g. an event log to profile with.
    extra = os.environ.get("BENCH_EXTRA_SUBMIT", "")
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {memory} {extra} pyspark-shell"
    argv = ["--local", "--master", CLI_MASTER, "--job-name", "bench", "--spec-path", str(spec),
            "--status-path", str(status), "--log-file", str(work / "job.log"), "--quiet",
            "--log-format", "json"]  # fmt: skip
    code = main(argv)
    wall = time.perf_counter() - began
    document = json.loads(status.read_text()) if status.exists() else {}
    if code != 0 or document.get("rows_written") != workload.rows:
        log = (work / "job.log").read_text()[-3000:] if (work / "job.log").exists() else ""
        raise RuntimeError(f"spark_job exited {code}: {document}\n{log}")
    stages = document["stage_seconds"]
    seconds = sum(v for k, v in stages.items() if k not in ("session", "total"))
    shutil.rmtree(work, ignore_errors=True)
    return {
        "startup_s": wall - seconds,  # imports, spec, preflight, session; and its stop
        "session_s": stages.get("session", 0.0),
        "seconds": seconds,
    }


def main(argv: list[str]) -> None:
    contender, name, rows, output = argv[0], argv[1], int(argv[2]), Path(argv[3])
    memory = argv[4] if len(argv) > 4 else "2g"
    if contender not in CONTENDERS:
        raise SystemExit(f"unknown contender {contender!r}; one of {', '.join(CONTENDERS)}")
    workload = workload_named(name, rows)
    shutil.rmtree(output, ignore_errors=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    timing = globals()[contender](workload, output, memory)
    shutil.rmtree(output, ignore_errors=True)
    print("BENCH " + json.dumps({**timing, "rows": rows}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
