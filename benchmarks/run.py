"""``make bench``: throughput and memory of spark_job against a single-process pipeline and stock
``mlflow.pyfunc.spark_udf``, side by side in one run; also the BigQuery storage-api read.

Writes ``benchmarks/results/latest.json``, ``benchmarks/results/throughput.png`` and a table on
stdout. Sizes: BENCH_CHEAP_ROWS (2M), BENCH_HEAVY_ROWS (200k), BENCH_MEMORY_ROWS (20M; 0 skips
the memory run), BENCH_REPS (3), BENCH_BQ_ROWS (1M; 0 skips the BigQuery read),
BENCH_GCS_ROWS (2M; 0 skips the gs:// Parquet read).
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
from benchmarks.workloads import Workload, prepare, workloads

RESULTS = Path(__file__).parent / "results"
CONTENDERS = ("single_process", "mlflow_spark_udf", "spark_job")
REPO = Path(__file__).resolve().parent.parent


def run_contender(
    contender: str, workload: Workload, memory: str = "2g", jobs: int = 2
) -> dict[str, Any]:
    """Run one contender in a fresh process: ``jobs`` jobs, the first cold, the rest warm.

    Returns its start-up seconds, the seconds and rows/s of each job, the process tree's peak
    RSS and its CPU seconds (JVM and Python apart).
    """
    output = Path(tempfile.mkdtemp(prefix="bench_out_")) / "out"
    command = [sys.executable, "-m", "benchmarks.contenders", contender, workload.name,
               str(workload.rows), str(output), memory, str(jobs)]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, cwd=REPO, env=env)  # fmt: skip
    with TreeMonitor(process.pid) as monitor:
        stdout, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(f"{contender} on {workload.name} failed:\n{stdout[-3000:]}")
    line = next(x for x in stdout.splitlines() if x.startswith("BENCH "))
    timing = json.loads(line[len("BENCH ") :])
    seconds = timing["seconds"]
    return {
        "startup_s": timing["startup_s"],
        "cold_seconds": seconds[0],
        "cold_rows_per_s": workload.rows / seconds[0],
        "warm_seconds": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
        "warm_rows_per_s": workload.rows / statistics.median(seconds[1:])
        if len(seconds) > 1
        else None,
        "peak_rss_mb": monitor.usage.peak_rss / 2**20,
        "cpu_s_jvm": monitor.usage.cpu_seconds("jvm"),
        "cpu_s_python": monitor.usage.cpu_seconds("python"),
    }


MEASURES = ("startup_s", "cold_seconds", "cold_rows_per_s", "warm_seconds", "warm_rows_per_s",
            "peak_rss_mb", "cpu_s_jvm", "cpu_s_python")  # fmt: skip


def _ratios(runs: dict[str, list[dict[str, Any]]], key: str) -> dict[str, float]:
    """spark_job's rows/s over each other contender's, rep by rep; the median of those."""
    ours = runs["spark_job"]
    ratios = {}
    for other in ("single_process", "mlflow_spark_udf"):
        pairs = zip(ours, runs[other], strict=True)
        ratios[f"ratio_vs_{other}"] = statistics.median(a[key] / b[key] for a, b in pairs)
    return ratios


def bench_workload(workload: Workload, reps: int) -> dict[str, Any]:
    """Every contender ``reps`` times, alternating the order; medians and ratios.

    The issue's ratios (``ratio_vs_*`` at the top) are the warm ones: start-up (session, JVM
    code compilation, Python worker imports) excluded, model load included. The cold ones,
    a fresh process's first job, are under ``cold``.
    """
    prepare(workload)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for rep in range(reps):  # alternate contenders within each repetition
        order = CONTENDERS if rep % 2 == 0 else tuple(reversed(CONTENDERS))
        for contender in order:
            run = run_contender(contender, workload)
            runs[contender].append(run)
            print(f"  {workload.name} rep {rep + 1} {contender}: warm "
                  f"{run['warm_rows_per_s']:,.0f} rows/s, cold {run['cold_rows_per_s']:,.0f}"
                  " rows/s", flush=True)  # fmt: skip
    summary: dict[str, Any] = {"rows": workload.rows, "repetitions": reps}
    for contender, measured in runs.items():
        summary[contender] = {
            key: statistics.median(run[key] for run in measured) for key in MEASURES
        }
        summary[contender]["runs"] = measured
    summary.update(_ratios(runs, "warm_rows_per_s"))
    summary["cold"] = _ratios(runs, "cold_rows_per_s")
    return summary


def bench_memory(rows_small: int, rows_large: int) -> dict[str, Any]:
    """spark_job's peak RSS at two sizes with 1g driver memory: flat means ratio near 1."""
    result: dict[str, Any] = {"driver_memory": "1g"}
    for label, rows in (("small", rows_small), ("large", rows_large)):
        workload = Workload("cheap", rows, "logistic")
        prepare(workload)
        run = run_contender("spark_job", workload, memory="1g", jobs=1)
        result[label] = {
            "rows": rows,
            "peak_rss_mb": run["peak_rss_mb"],
            "rows_per_s": run["cold_rows_per_s"],
        }
    result["peak_rss_ratio"] = result["large"]["peak_rss_mb"] / result["small"]["peak_rss_mb"]
    return result


def chart(results: dict[str, Any], path: Path) -> None:
    """Warm and cold rows/s per contender, a panel per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [w for w in ("cheap", "heavy") if w in results]
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    positions = range(len(CONTENDERS))
    for axis, name in zip(axes[0], names, strict=True):
        for offset, (measure, colour) in enumerate((("warm", "#4f81bd"), ("cold", "#c0c0c0"))):
            values = [results[name][c][f"{measure}_rows_per_s"] for c in CONTENDERS]
            axis.bar([x + 0.4 * offset for x in positions], values, 0.4, label=measure,
                     color=colour)  # fmt: skip
        axis.set_xticks([x + 0.2 for x in positions], CONTENDERS, rotation=15)
        axis.set_title(f"{name}: {results[name]['rows']:,} rows")
        axis.set_ylabel("rows/s (median)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def table(results: dict[str, Any]) -> str:
    lines = ["| workload | contender | warm rows/s | warm s | cold rows/s | cold s | start-up s |"
             " peak RSS MB | CPU s JVM / Python |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|"]  # fmt: skip
    for name in ("cheap", "heavy"):
        if name not in results:
            continue
        for contender in CONTENDERS:
            c = results[name][contender]
            lines.append(f"| {name} | {contender} | {c['warm_rows_per_s']:,.0f} |"
                         f" {c['warm_seconds']:.2f} | {c['cold_rows_per_s']:,.0f} |"
                         f" {c['cold_seconds']:.2f} | {c['startup_s']:.1f} |"
                         f" {c['peak_rss_mb']:,.0f} | {c['cpu_s_jvm']:.0f} / "
                         f"{c['cpu_s_python']:.0f} |")  # fmt: skip
        w, cold = results[name], results[name]["cold"]
        lines.append(f"| {name} | **spark_job ratios** | vs single_process"
                     f" {w['ratio_vs_single_process']:.2f}× | vs mlflow_spark_udf"
                     f" {w['ratio_vs_mlflow_spark_udf']:.2f}× | vs single_process"
                     f" {cold['ratio_vs_single_process']:.2f}× | vs mlflow_spark_udf"
                     f" {cold['ratio_vs_mlflow_spark_udf']:.2f}× | | | |")  # fmt: skip
    if "memory" in results:
        m = results["memory"]
        lines.append(f"\nMemory (spark_job, 1g): peak RSS {m['small']['peak_rss_mb']:,.0f} MB at"
                     f" {m['small']['rows']:,} rows, {m['large']['peak_rss_mb']:,.0f} MB at"
                     f" {m['large']['rows']:,} rows: ratio {m['peak_rss_ratio']:.2f}")  # fmt: skip
    if "bigquery_read" in results:
        b = results["bigquery_read"]
        lines.append(f"\nBigQuery read ({b['rows']:,} rows, emulator): storage-api engine "
                     f"{b['engine_rows_per_s']:,.0f} rows/s, direct BigQueryReadClient "
                     f"{b['direct_rows_per_s']:,.0f} rows/s: ratio {b['ratio']:.2f}")  # fmt: skip
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
        },  # fmt: skip
    }
    for workload in workloads():
        print(f"workload {workload.name} ({workload.rows:,} rows)", flush=True)
        results[workload.name] = bench_workload(workload, reps)
    memory_rows = int(os.environ.get("BENCH_MEMORY_ROWS", 20_000_000))
    if memory_rows:
        print(f"memory: spark_job at {workloads()[0].rows:,} and {memory_rows:,} rows", flush=True)
        results["memory"] = bench_memory(workloads()[0].rows, memory_rows)
    bq_rows = int(os.environ.get("BENCH_BQ_ROWS", 1_000_000))
    if bq_rows:
        from benchmarks.bigquery_read import run as bigquery_read

        print(f"bigquery read ({bq_rows:,} rows)", flush=True)
        results["bigquery_read"] = bigquery_read(bq_rows)
    gcs_rows = int(os.environ.get("BENCH_GCS_ROWS", 2_000_000))
    if gcs_rows:
        from benchmarks.gcs_read import run as gcs_read

        print(f"gs:// Parquet read ({gcs_rows:,} rows): Spark's reader vs the Python reader")
        results["gcs_parquet_read"] = gcs_read(gcs_rows)
    results["wall_seconds"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, RESULTS / "throughput.png")
    print(table(results))
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'throughput.png'}"
          f" in {results['wall_seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
