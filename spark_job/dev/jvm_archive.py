"""Record the JVM class-data-sharing archive of local sessions (``make setup``).

    python -m spark_job.dev.jvm_archive

Runs a small local job in a fresh process whose JVM writes the classes it loaded to a dynamic
archive when it exits (``-XX:ArchiveClassesAtExit``), and moves the archive into place only
when that JVM ended well: a truncated archive would crash the JVMs that map it. Sessions use it
when its name matches their Java, Spark and jars (:mod:`spark_job.run.jvm_archive`). Nothing to
do when that archive exists; archives recorded for other jars or another Java are removed.
Takes a minute or two; a failure is reported in one line and setup goes on (sessions then run
without an archive).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from spark_job.run.jvm_archive import ARCHIVE_ENV, JAVA_OPTIONS, QUIET, archive_path
from spark_job.run.session import local_jars
from spark_job.scoring.zygote import ZYGOTE_ENV

RECORD_SECONDS = 900


def _record(target: Path) -> None:
    """In the recording process: run the kinds of work a local job does, then let the JVM end."""
    import pandas as pd
    from pyspark import SparkContext

    from spark_job.run.session import build_session

    options = f"-XX:ArchiveClassesAtExit={target} {QUIET}"
    spark = build_session("spark_job-jvm-archive", local=True, conf={JAVA_OPTIONS: options})
    gateway = SparkContext._gateway
    assert gateway is not None
    with tempfile.TemporaryDirectory(prefix="spark_job_jvm_archive_") as scratch:
        frame = spark.range(0, 20_000, 1, 2).selectExpr("id", "CAST(id AS DOUBLE) AS x")
        scored = frame.mapInArrow(lambda batches: batches, frame.schema)
        scored.write.mode("overwrite").parquet(f"{scratch}/parquet")
        read = spark.read.parquet(f"{scratch}/parquet")
        read.groupBy((read.id % 3).alias("k")).count().write.json(f"{scratch}/json")
        small = spark.createDataFrame(pd.DataFrame({"a": [1.0, 2.0]}))
        small.write.format("noop").mode("overwrite").save()
        spark.read.json(f"{scratch}/json").count()
    process = gateway.proc  # type: ignore[attr-defined]
    spark.stop()
    process.stdin.close()  # the JVM ends on its stdin's end, writing the archive as it exits
    sys.exit(process.wait(timeout=RECORD_SECONDS))


def build(jars: list[Path]) -> str | None:
    """Record the archive for ``jars`` unless it exists; None when done, else why not."""
    path = archive_path(jars)
    if path is None:
        return "no java, or no jars"
    if path.is_file():
        return None
    for stale in path.parent.glob("spark-classes-*.jsa*"):
        stale.unlink()
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    environment = dict(os.environ, **{ARCHIVE_ENV: "off", ZYGOTE_ENV: "off"})
    command = [sys.executable, "-m", "spark_job.dev.jvm_archive", "--record", str(partial)]
    try:
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=RECORD_SECONDS
        )
    except subprocess.TimeoutExpired:
        done = None
    try:
        if done is None or done.returncode != 0 or not partial.is_file():
            lines = (done.stderr if done else "timed out").strip().splitlines()
            return lines[-1][:200] if lines else "the recording JVM failed"
        partial.replace(path)
        return None
    finally:
        partial.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--record"] and len(argv) == 2:
        _record(Path(argv[1]))
    reason = build(local_jars())
    if reason:
        print(f"setup: no JVM class archive, sessions start without one: {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
