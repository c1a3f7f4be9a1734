"""``make bench``: spark_job against a single-process pipeline and stock
``mlflow.pyfunc.spark_udf``, each contender in a fresh process, measured on the first job of
that process (what a ``spark-submit`` user gets); also memory and the BigQuery read.

Writes ``benchmarks/results/latest.json`` (every figure, ratio and target), a chart
``benchmarks/results/throughput.png`` and a table on stdout. Sizes (0 skips a part):
BENCH_CHEAP_ROWS (20M), BENCH_HEAVY_ROWS (1M), BENCH_FIXED_ROWS (1,000), BENCH_REPS (3),
BENCH_MEMORY_ROWS (20M, against BENCH_MEMORY_SMALL_ROWS, 2M), BENCH_BQ_ROWS (10M),
BENCH_GCS_ROWS (0: the gs:// Parquet read of :mod:`benchmarks.gcs_read`), BENCH_REPORT_ROWS
(4M: the job report on vs off, :mod:`benchmarks.report_overhead`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.monitor import TreeMonitor
from benchmarks.workloads import Workload, prepare, workload_named, workloads

#: Where results go; quick runs while working can point BENCH_RESULTS_DIR elsewhere.
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
CONTENDERS = ("single_process", "mlflow_spark_udf", "spark_job")
OTHERS = ("single_process", "mlflow_spark_udf")
REPO = Path(__file__).resolve().parent.parent

#: The issue's targets: (dotted key in latest.json, comparison, bound).
TARGETS = (
    ("cheap.ratio_vs_single_process", ">=", 1.2),
    ("cheap.ratio_vs_mlflow_spark_udf", ">=", 2.5),
    ("heavy.ratio_vs_single_process", ">=", 1.75),
    ("heavy.ratio_vs_mlflow_spark_udf", ">=", 1.6),
    ("fixed.ratio_vs_mlflow_spark_udf", ">=", 1.0),
    ("memory.ratio", "<=", 1.3),
    ("bigquery_read.ratio", ">=", 0.8),
    ("report_overhead.ratio", "<=", 1.1),  # issue 17: the job report costs at most 10 %
)


def run_contender(contender: str, workload: Workload, memory: str = "2g") -> dict[str, Any]:
    """Run one contender's first job in a fresh process.

    Returns the job's seconds and rows/s, the start-up seconds beside it (session start
    apart), the process tree's peak RSS and its CPU seconds (JVM and Python apart).
    """
    output = Path(tempfile.mkdtemp(prefix="bench_out_")) / "out"
    command = [sys.executable, "-m", "benchmarks.contenders", contender, workload.name,
               str(workload.rows), str(output), memory]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO, env=env)  # fmt: skip
    with TreeMonitor(process.pid) as monitor:
        stdout, stderr = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(f"{contender} on {workload.name} failed:\n{stdout[-2000:]}"
                           f"\n{stderr[-3000:]}")  # fmt: skip
    line = next(x for x in stdout.splitlines() if x.startswith("BENCH "))
    timing = json.loads(line[len("BENCH ") :])
    return {
        "seconds": timing["seconds"],
        "rows_per_s": workload.rows / timing["seconds"],
        "startup_s": timing["startup_s"],
        "session_s": timing["session_s"],
        "peak_rss_mb": monitor.usage.peak_rss / 2**20,
        "cpu_s_jvm": monitor.usage.cpu_seconds("jvm"),
        "cpu_s_python": monitor.usage.cpu_seconds("python"),
    }


MEASURES = ("seconds", "rows_per_s", "startup_s", "session_s", "peak_rss_mb", "cpu_s_jvm",
            "cpu_s_python")  # fmt: skip


def bench_workload(workload: Workload, reps: int) -> dict[str, Any]:
    """Every contender ``reps`` times, alternating the order; medians, and each ratio (the
    other's seconds ÷ spark_job's, rep by rep) as the median of the repetitions' ratios."""
    prepare(workload)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for rep in range(reps):
        order = CONTENDERS if rep % 2 == 0 else tuple(reversed(CONTENDERS))
        for contender in order:
            run = run_contender(contender, workload)
            runs[contender].append(run)
            print(f"  {workload.name} rep {rep + 1} {contender}: {run['seconds']:.2f} s"
                  f" ({run['rows_per_s']:,.0f} rows/s), start-up {run['startup_s']:.1f} s",
                  flush=True)  # fmt: skip
    summary: dict[str, Any] = {"rows": workload.rows, "repetitions": reps}
    for contender, measured in runs.items():
        summary[contender] = {
            key: statistics.median(run[key] for run in measured) for key in MEASURES
        }
        summary[contender]["runs"] = measured
    for other in OTHERS:
        pairs = zip(runs["spark_job"], runs[other], strict=True)
        summary[f"ratio_vs_{other}"] = statistics.median(
            theirs["seconds"] / ours["seconds"] for ours, theirs in pairs
        )
    return summary


def bench_memory(rows_small: int, rows_large: int) -> dict[str, Any]:
    """spark_job's peak RSS (process tree) at two sizes with 1g driver memory."""
    result: dict[str, Any] = {"driver_memory": "1g"}
    for label, rows in (("small", rows_small), ("large", rows_large)):
        workload = workload_named("cheap", rows)
        prepare(workload)
        run = run_contender("spark_job", workload, memory="1g")
        result[label] = {"rows": rows, "peak_rss_mb": run["peak_rss_mb"],
                         "seconds": run["seconds"]}  # fmt: skip
        print(f"  memory {rows:,} rows: peak RSS {run['peak_rss_mb']:,.0f} MB", flush=True)
    result["ratio"] = result["large"]["peak_rss_mb"] / result["small"]["peak_rss_mb"]
    return result


def _value(results: dict[str, Any], key: str) -> Any:
    value: Any = results
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each target of the issue with the measured value and whether it holds (None: not
    measured in this run)."""
    checked = {}
    for key, op, bound in TARGETS:
        value = _value(results, key)
        holds = None if value is None else (value >= bound if op == ">=" else value <= bound)
        checked[key] = {"target": f"{op} {bound}", "value": value, "holds": holds}
    return checked


def chart(results: dict[str, Any], path: Path) -> None:
    """Seconds of the first job per contender (start-up stacked on top), a panel per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [w for w in ("cheap", "heavy", "fixed") if w in results]
    if not names:
        return
    figure, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        jobs = [results[name][c]["seconds"] for c in CONTENDERS]
        startup = [results[name][c]["startup_s"] for c in CONTENDERS]
        axis.bar(CONTENDERS, jobs, color="#4f81bd", label="first job")
        axis.bar(CONTENDERS, startup, bottom=jobs, color="#d0d0d0", label="start-up")
        axis.set_title(f"{name}: {results[name]['rows']:,} rows")
        axis.set_ylabel("seconds (median)")
        axis.tick_params(axis="x", rotation=15)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def table(results: dict[str, Any]) -> str:
    lines = ["| workload | contender | first job s | rows/s | start-up s (session) |"
             " peak RSS MB | CPU s JVM / Python |",
             "|---|---|--:|--:|--:|--:|--:|"]  # fmt: skip
    for name in ("cheap", "heavy", "fixed"):
        if name not in results:
            continue
        for contender in CONTENDERS:
            c = results[name][contender]
            lines.append(f"| {name} {results[name]['rows']:,} | {contender} | {c['seconds']:.2f} |"
                         f" {c['rows_per_s']:,.0f} | {c['startup_s']:.1f} ({c['session_s']:.1f}) |"
                         f" {c['peak_rss_mb']:,.0f} | {c['cpu_s_jvm']:.0f} / "
                         f"{c['cpu_s_python']:.0f} |")  # fmt: skip
    lines.append("\n| target | value | holds |\n|---|--:|---|")
    for key, check in results.get("targets", {}).items():
        value = "—" if check["value"] is None else f"{check['value']:.2f}"
        lines.append(f"| `{key}` {check['target']} | {value} | {check['holds']} |")
    return "\n".join(lines)


def main() -> None:
    started = time.time()
    reps = int(os.environ.get("BENCH_REPS", 3))
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "measure": "seconds of the first job of a fresh process (model load to output"
        " written); start-up (imports, SparkSession) beside it; ratios are the other's"
        " seconds / spark_job's, median of the repetitions",
    }
    for workload in workloads():
        print(f"workload {workload.name} ({workload.rows:,} rows)", flush=True)
        results[workload.name] = bench_workload(workload, reps)
    memory_rows = int(os.environ.get("BENCH_MEMORY_ROWS", 20_000_000))
    if memory_rows:
        small = int(os.environ.get("BENCH_MEMORY_SMALL_ROWS", memory_rows // 10))
        print(f"memory: spark_job at {small:,} and {memory_rows:,} rows, 1g driver", flush=True)
        results["memory"] = bench_memory(small, memory_rows)
    bq_rows = int(os.environ.get("BENCH_BQ_ROWS", 10_000_000))
    if bq_rows:
        from benchmarks.bigquery_read import run as bigquery_read

        print(f"bigquery read ({bq_rows:,} rows)", flush=True)
        results["bigquery_read"] = bigquery_read(bq_rows)
    gcs_rows = int(os.environ.get("BENCH_GCS_ROWS", 0))
    if gcs_rows:
        from benchmarks.gcs_read import run as gcs_read

        print(f"gs:// Parquet read ({gcs_rows:,} rows): Spark's reader vs the Python reader")
        results["gcs_parquet_read"] = gcs_read(gcs_rows)
    report_rows = int(os.environ.get("BENCH_REPORT_ROWS", 4_000_000))
    if report_rows:  # the job report on vs off: benchmarks/report_overhead.py
        from benchmarks.report_overhead import run as report_overhead

        print(f"job report overhead ({report_rows:,} rows, on vs off)", flush=True)
        results["report_overhead"] = report_overhead(report_rows)
    results["targets"] = check_targets(results)
    results["wall_seconds"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, RESULTS / "throughput.png")
    print(table(results))
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'throughput.png'}"
          f" in {results['wall_seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
