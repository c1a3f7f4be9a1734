"""The job report's overhead: the same job with the report on and off (issue 17: ≤ 10%).

    python -m benchmarks.report_overhead [ROWS]

The ``cheap`` workload (LogisticRegression, 8 float features; the cheapest model, so the
report's share is the largest) at ROWS rows (default 4M), Parquet in and out, through
:func:`spark_job.run.runner.run_job` in one ``local[2]`` session: one warm-up job each, then
``REPETITIONS`` alternating pairs. A job's seconds are its prepare + predict + publish (+ report)
stages; ``ratio`` is the median with the report ÷ the median without. :func:`run` does all this
in a fresh process and returns the figures (``make bench`` stores them as
``report_overhead`` in latest.json).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPETITIONS = 5
TARGET_RATIO = 1.10
_MARK = "BENCH_REPORT "
REPO = Path(__file__).resolve().parent.parent


def _job_seconds(spark: Any, workload: Any, enabled: bool, work: Path, index: int) -> float:
    from benchmarks.workloads import FEATURES
    from spark_job.run.runner import run_job
    from spark_job.spec import parse_spec_text

    spec = parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: "{workload.input_dir}", features: {FEATURES},
             passthrough: [id]}}
model: {{type: PYFUNC, uri: "{workload.model_dir}", result: {{type: DOUBLE}}}}
gcsSink: {{format: PARQUET, uri: "{work / "out"}", save_mode: OVERWRITE}}
report: {{enabled: {"true" if enabled else "false"}}}
""")
    result = run_job(spark, spec, "bench_report", f"r{index}")
    assert result.rows_written == workload.rows and bool(result.report) == enabled
    return sum(v for k, v in result.stage_seconds.items() if k not in ("session", "total"))


def measure(rows: int) -> dict[str, Any]:
    """In this process: the figures of the module docstring."""
    from benchmarks.workloads import prepare, workload_named
    from spark_job.run.session import build_session

    workload = workload_named("cheap", rows)
    prepare(workload)
    work = Path(tempfile.mkdtemp(prefix="bench_report_"))
    spark = build_session("bench_report", local=True, master="local[2]")
    seconds: dict[bool, list[float]] = {True: [], False: []}
    try:
        index = 0
        for repetition in range(REPETITIONS + 1):  # the first pair warms up
            for enabled in (repetition % 2 == 0, repetition % 2 != 0):
                index += 1
                taken = _job_seconds(spark, workload, enabled, work, index)
                if repetition:
                    seconds[enabled].append(round(taken, 3))
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    return {
        "rows": rows,
        "workload": "cheap",
        "seconds_report_on": seconds[True],
        "seconds_report_off": seconds[False],
        "median_on": on,
        "median_off": off,
        "ratio": round(on / off, 3),
        "target_ratio_max": TARGET_RATIO,
        "met": on / off <= TARGET_RATIO,
    }


def run(rows: int = 4_000_000) -> dict[str, Any]:
    """:func:`measure` in a fresh process (no Spark state left in the caller)."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.report_overhead", str(rows)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=3600,
    )  # fmt: skip
    line = next((x for x in proc.stdout.splitlines() if x.startswith(_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"report overhead bench failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len(_MARK) :])


if __name__ == "__main__":
    figures = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000)
    print(_MARK + json.dumps(figures), flush=True)
