"""Building the SparkSession: local mode for laptops and CI, or whatever spark-submit chose."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

BASE_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.python.worker.reuse": "true",
    "spark.ui.showConsoleProgress": "false",
}

LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    # Workers forked from a daemon that has imported the model's libraries: see worker_daemon.
    # Local mode only by default: executors elsewhere need spark_job installed to run it.
    "spark.python.daemon.module": "spark_job.worker_daemon",
}


def use_this_interpreter() -> None:
    """Make Python workers run the interpreter running us, so they see the same packages."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def build_session(
    app_name: str,
    local: bool = False,
    master: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """Return the job's SparkSession.

    With ``local`` the session runs in ``local[*]`` and its workers use this interpreter;
    otherwise the master and resources come from spark-submit (or ``master``).
    """
    use_this_interpreter()
    builder = SparkSession.builder.appName(app_name)
    settings = dict(BASE_CONF)
    if local:
        builder = builder.master(master or "local[*]")
        settings.update(LOCAL_CONF)
    elif master:
        builder = builder.master(master)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
