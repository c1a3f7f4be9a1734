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

In local mode the driver has usually started a zygote that imported them while the JVM
started (:mod:`spark_job.scoring.zygote`): this process then only hands its pipes over to it.
"""

from __future__ import annotations

import contextlib
import os
import sys

from spark_job.scoring.preload import PRELOAD_ENV, preload
from spark_job.scoring.zygote import ZYGOTE_ENV, hand_over

__all__ = ["PRELOAD_ENV", "main", "preload"]


def main() -> None:
    zygote = os.environ.get(ZYGOTE_ENV)
    if zygote and hand_over(zygote):
        return
    # The daemon tells the JVM its port on stdout: nothing imported may print there.
    with contextlib.redirect_stdout(sys.stderr):
        preload(os.environ.get(PRELOAD_ENV, ""))
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
