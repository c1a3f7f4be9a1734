"""The Python worker daemon, with the model's libraries imported once before it forks workers.

Spark starts one daemon per executor (``spark.python.daemon.module``) and forks a Python
worker from it for every task slot. Stock workers each import pandas, pyarrow, MLflow and the
model's flavor (scikit-learn, skops...) on their first task: seconds of CPU per worker, paid
again by every executor core while the JVM is also busy. This daemon imports them first, so
the forked workers start with them loaded (and share their memory pages).

The modules come from ``SPARK_JOB_PRELOAD`` (comma-separated), which the driver puts in the
Python function's environment (``SparkContext.environment``) once it knows the model's flavor;
Spark keys daemons by that environment, so the job's UDF gets a daemon of its own. A module
that fails to import is skipped: the worker then imports it itself, as Spark's would.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

PRELOAD_ENV = "SPARK_JOB_PRELOAD"


def preload(names: str) -> list[str]:
    """Import each module named in ``names``; return those that failed."""
    failed = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except Exception as error:  # the worker will import it, and report a real failure
            failed.append(name)
            print(f"spark_job daemon: cannot preload {name}: {error}", file=sys.stderr)
    return failed


def main() -> None:
    # The daemon tells the JVM its port on stdout: nothing imported may print there.
    with contextlib.redirect_stdout(sys.stderr):
        preload(os.environ.get(PRELOAD_ENV, ""))
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
