"""One contender on one workload, in this (fresh) process; prints its timings as JSON.

    python -m benchmarks.contenders CONTENDER WORKLOAD ROWS OUTPUT_DIR [DRIVER_MEMORY]

Times exclude SparkSession start-up (reported apart) but include loading the model.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.workloads import FEATURES, Workload, workloads

SPARK_CONF = {"spark.driver.memory": "2g"}


def _workload(name: str, rows: int) -> Workload:
    kind = next(w.model_kind for w in workloads() if w.name == name)
    return Workload(name, rows, kind)


def single_process(workload: Workload, output: Path) -> dict[str, Any]:
    """pyarrow read → pyfunc.predict → pyarrow write, one Python process: the one-core limit."""
    import mlflow.pyfunc
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(str(workload.model_dir))
    output.mkdir(parents=True)
    dataset = ds.dataset(str(workload.input_dir), format="parquet")
    for index, batch in enumerate(dataset.to_batches(batch_size=250_000)):
        frame = batch.to_pandas()
        prediction = model.predict(frame[FEATURES])
        table = pa.Table.from_batches([batch]).append_column(
            "prediction", pa.array(prediction, type=pa.float64())
        )
        pq.write_table(table, output / f"part-{index:05d}.parquet")
    return {"startup_s": 0.0, "seconds": time.perf_counter() - started}


def _session(memory: str) -> Any:
    from spark_job.session import build_session

    return build_session(
        "bench", local=True, master="local[2]", conf={**SPARK_CONF, "spark.driver.memory": memory}
    )


def mlflow_spark_udf(workload: Workload, output: Path, memory: str) -> dict[str, Any]:
    """Stock ``mlflow.pyfunc.spark_udf`` in the same Spark local[2] job."""
    import mlflow.pyfunc

    began = time.perf_counter()
    spark = _session(memory)
    startup = time.perf_counter() - began
    started = time.perf_counter()
    udf = mlflow.pyfunc.spark_udf(spark, str(workload.model_dir), result_type="double")
    frame = spark.read.parquet(str(workload.input_dir))
    frame.withColumn("prediction", udf(*FEATURES)).write.parquet(str(output))
    seconds = time.perf_counter() - started
    spark.stop()
    return {"startup_s": startup, "seconds": seconds}


def spark_job(workload: Workload, output: Path, memory: str) -> dict[str, Any]:
    """Our job through the function the CLI calls (``run_job``), same session settings."""
    from spark_job.runner import run_job
    from spark_job.spec import parse_spec_text

    began = time.perf_counter()
    spark = _session(memory)
    startup = time.perf_counter() - began
    spec = parse_spec_text(
        f"""
gcsSource: {{format: PARQUET, uri: {workload.input_dir}, features: {FEATURES}, passthrough: [id]}}
model: {{type: PYFUNC, uri: {workload.model_dir}, result: {{type: DOUBLE}}}}
gcsSink: {{format: PARQUET, uri: {output}}}
"""
    )
    started = time.perf_counter()
    result = run_job(spark, spec, "bench", "bench")
    seconds = time.perf_counter() - started
    spark.stop()
    assert result.rows_written == workload.rows, result
    return {"startup_s": startup, "seconds": seconds}


def main(argv: list[str]) -> None:
    contender, name, rows, output = argv[0], argv[1], int(argv[2]), Path(argv[3])
    memory = argv[4] if len(argv) > 4 else "2g"
    workload = _workload(name, rows)
    shutil.rmtree(output, ignore_errors=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if contender == "single_process":
        timing = single_process(workload, output)
    elif contender == "mlflow_spark_udf":
        timing = mlflow_spark_udf(workload, output, memory)
    else:
        timing = spark_job(workload, output, memory)
    shutil.rmtree(output, ignore_errors=True)
    print("BENCH " + json.dumps({**timing, "rows": rows}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
