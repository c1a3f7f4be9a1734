"""``make bench``: throughput and memory of spark_job against a single-process pipeline and stock
``mlflow.pyfunc.spark_udf``, side by side in one run; also the BigQuery storage-api read.

Writes ``benchmarks/results/latest.json``, ``benchmarks/results/throughput.png`` and a table on
stdout. Sizes: BENCH_CHEAP_ROWS (2M), BENCH_HEAVY_ROWS (200k), BENCH_MEMORY_ROWS (20M; 0 skips
the memory run), BENCH_REPS (3), BENCH_BQ_ROWS (1M; 0 skips the BigQuery read).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.workloads import Workload, prepare, workloads

RESULTS = Path(__file__).parent / "results"
CONTENDERS = ("single_process", "mlflow_spark_udf", "spark_job")
REPO = Path(__file__).resolve().parent.parent


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def run_contender(contender: str, workload: Workload, memory: str = "2g") -> dict[str, Any]:
    """Run one contender in a fresh process; its timings plus the process tree's peak RSS."""
    output = Path(tempfile.mkdtemp(prefix="bench_out_")) / "out"
    command = [sys.executable, "-m", "benchmarks.contenders", contender, workload.name,
               str(workload.rows), str(output), memory]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, cwd=REPO, env=env)  # fmt: skip
    watched = psutil.Process(process.pid)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(watched))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, _ = process.communicate(timeout=1800)
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"{contender} on {workload.name} failed:\n{stdout[-3000:]}")
    line = next(x for x in stdout.splitlines() if x.startswith("BENCH "))
    timing = json.loads(line[len("BENCH ") :])
    timing["rows_per_s"] = workload.rows / timing["seconds"]
    timing["peak_rss_mb"] = peak / 2**20
    return timing


def bench_workload(workload: Workload, reps: int) -> dict[str, Any]:
    prepare(workload)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for rep in range(reps):  # alternate contenders within each repetition
        order = CONTENDERS if rep % 2 == 0 else tuple(reversed(CONTENDERS))
        for contender in order:
            runs[contender].append(run_contender(contender, workload))
            print(f"  {workload.name} rep {rep + 1} {contender}: "
                  f"{runs[contender][-1]['rows_per_s']:,.0f} rows/s", flush=True)  # fmt: skip
    summary: dict[str, Any] = {"rows": workload.rows, "repetitions": reps}
    for contender, measured in runs.items():
        summary[contender] = {
            key: statistics.median(run[key] for run in measured)
            for key in ("rows_per_s", "seconds", "startup_s", "peak_rss_mb")
        }
        summary[contender]["runs_rows_per_s"] = [run["rows_per_s"] for run in measured]
    ours = runs["spark_job"]
    for other in ("single_process", "mlflow_spark_udf"):
        ratios = [a["rows_per_s"] / b["rows_per_s"] for a, b in zip(ours, runs[other], strict=True)]
        summary[f"ratio_vs_{other}"] = statistics.median(ratios)
    return summary


def bench_memory(rows_small: int, rows_large: int) -> dict[str, Any]:
    """spark_job's peak RSS at two sizes with 1g driver memory: flat means ratio near 1."""
    result: dict[str, Any] = {"driver_memory": "1g"}
    for label, rows in (("small", rows_small), ("large", rows_large)):
        workload = Workload("cheap", rows, "logistic")
        prepare(workload)
        run = run_contender("spark_job", workload, memory="1g")
        result[label] = {
            "rows": rows,
            "peak_rss_mb": run["peak_rss_mb"],
            "rows_per_s": run["rows_per_s"],
        }
    result["peak_rss_ratio"] = result["large"]["peak_rss_mb"] / result["small"]["peak_rss_mb"]
    return result


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [w for w in ("cheap", "heavy") if w in results]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4))
    for axis, name in zip(axes if len(names) > 1 else [axes], names, strict=True):
        values = [results[name][c]["rows_per_s"] for c in CONTENDERS]
        axis.bar(CONTENDERS, values, color=["#888888", "#c0504d", "#4f81bd"])
        axis.set_title(f"{name}: {results[name]['rows']:,} rows")
        axis.set_ylabel("rows/s (median)")
        axis.tick_params(axis="x", labelrotation=15)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def table(results: dict[str, Any]) -> str:
    lines = ["| workload | contender | rows/s | seconds | start-up s | peak RSS MB |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("cheap", "heavy"):
        if name not in results:
            continue
        for contender in CONTENDERS:
            c = results[name][contender]
            lines.append(f"| {name} | {contender} | {c['rows_per_s']:,.0f} | {c['seconds']:.2f} |"
                         f" {c['startup_s']:.1f} | {c['peak_rss_mb']:,.0f} |")  # fmt: skip
        lines.append(f"| {name} | **ratios** | vs single_process "
                     f"{results[name]['ratio_vs_single_process']:.2f}× | vs mlflow_spark_udf "
                     f"{results[name]['ratio_vs_mlflow_spark_udf']:.2f}× | | |")  # fmt: skip
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
    results["wall_seconds"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, RESULTS / "throughput.png")
    print(table(results))
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'throughput.png'}"
          f" in {results['wall_seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
