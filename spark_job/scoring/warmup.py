"""Warming the executors' Python workers while the driver plans the job.

Between shipping the model and starting to predict, the driver lists input files or opens a
BigQuery read session and plans the query; the executors sit idle. A cold Python worker then
spends seconds importing pandas, pyarrow, MLflow and the model's library and loading the model
before its first batch. The warm-up runs one tiny task per task slot, in a background thread,
as soon as the model is shipped: each task loads the model into its worker (the daemon has
imported the libraries, see :mod:`spark_job.scoring.worker_daemon`). Spark reuses Python workers, so
the job's tasks find the model loaded.

The warm-up only saves time: if it fails, the job's own tasks load the model and report any
error; if the run ends first, the warm-up job is cancelled.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

from spark_job.scoring.model import load_shipped_model
from spark_job.scoring.preload import PRELOAD_ENV

log = logging.getLogger(__name__)


@contextmanager
def worker_environment(spark: SparkSession, modules: Sequence[str]) -> Iterator[None]:
    """Python functions created inside this block ask their daemon to import ``modules``.

    Spark starts a daemon per distinct environment; the same module list (one per model
    flavor) means the same daemon, job after job.
    """
    environment = spark.sparkContext.environment
    previous = environment.get(PRELOAD_ENV)
    environment[PRELOAD_ENV] = ",".join(modules)
    try:
        yield
    finally:
        if previous is None:
            environment.pop(PRELOAD_ENV, None)
        else:
            environment[PRELOAD_ENV] = previous


def _loader(shipped_name: str) -> Any:
    def load(batches: Iterator[Any]) -> Iterator[Any]:
        load_shipped_model(shipped_name)
        yield from batches

    return load


class WorkerWarmup:
    """One task per slot that loads the shipped model, run in a background thread."""

    def __init__(self, spark: SparkSession, shipped_name: str, slots: int) -> None:
        self._context = spark.sparkContext
        self._group = f"spark_job-warmup-{uuid.uuid4().hex[:8]}"
        self._spark = spark
        self._slots = max(1, slots)
        self._loader = _loader(shipped_name)
        # The task's environment (the daemon's modules) as the caller's is now.
        self._environment = dict(spark.sparkContext.environment)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self._group, daemon=True)

    def _run(self) -> None:
        self._context.setJobGroup(self._group, "spark_job: warming Python workers")
        try:
            # Planned here, off the driver's path (the first query of a fresh JVM takes a
            # second to plan), as the job's own tasks are: the same kind of Python function
            # (an RDD's would get a daemon and workers of its own). It takes the session's
            # environment when it is planned: the caller's (worker_environment), unless the
            # job has already ended.
            if self._stopped.is_set() or dict(self._context.environment) != self._environment:
                return
            frame = self._spark.range(0, self._slots, 1, self._slots)
            frame.mapInArrow(self._loader, "id long").collect()
        except Exception as error:  # the job's own tasks will meet and report it
            log.debug("worker warm-up ended early: %s", error)

    def start(self) -> WorkerWarmup:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Wait for the warm-up to end; False if it still runs after ``timeout`` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Cancel the warm-up if it still runs and wait for its thread."""
        self._stopped.set()
        if self._thread.is_alive():
            self._context.cancelJobGroup(self._group)
        self._thread.join(timeout=30)
