"""Spreading the input over the cluster only when that helps.

Merlin always repartitions, a full shuffle of the input. Here a shuffle happens only when the
input has fewer partitions than the cluster has cores (executors × cores): then some cores
would sit idle while the model runs. A well-partitioned input is never shuffled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Dynamic allocation's default maximum is "unbounded"; beyond this it is not a core count.
_UNBOUNDED_EXECUTORS = 10_000


def _positive_int(value: str | None) -> int:
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return 0


def cluster_cores(spark: SparkSession) -> int:
    """Task slots the application has, or will have: executors × cores per executor."""
    context = spark.sparkContext
    settings = dict(context.getConf().getAll())
    return planned_cores(context.master, settings, int(context.defaultParallelism))


def planned_cores(master: str, conf: Mapping[str, str], default_parallelism: int) -> int:
    """Executors × cores from the configuration when a cluster manager sizes executors
    (``spark.executor.instances``, or ``spark.dynamicAllocation.maxExecutors`` with dynamic
    allocation, times ``spark.executor.cores``) — executors may still be starting when the
    input is planned — else Spark's default parallelism (local mode: its threads; standalone:
    the cores of the registered executors).
    """
    default = max(1, default_parallelism)
    if master.startswith("local"):
        return default
    cores = _positive_int(conf.get("spark.executor.cores"))
    if conf.get("spark.dynamicAllocation.enabled", "false").strip().lower() == "true":
        executors = _positive_int(conf.get("spark.dynamicAllocation.maxExecutors"))
        if executors > _UNBOUNDED_EXECUTORS:
            executors = 0
    else:
        executors = _positive_int(conf.get("spark.executor.instances"))
    if cores and executors:
        return executors * cores
    return default


def spread(frame: DataFrame, cores: int) -> tuple[DataFrame, int]:
    """``frame``, repartitioned to ``cores`` partitions if it has fewer, else unchanged; and
    its partition count. (Asking a repartitioned frame for its partitions would run the
    shuffle under adaptive execution: the input read once more.)"""
    partitions = frame.rdd.getNumPartitions()  # planning only: no shuffle in ``frame`` yet
    if partitions >= cores:
        log.info("input has %d partitions for %d cores: no repartitioning", partitions, cores)
        return frame, partitions
    log.info("input has %d partitions for %d cores: repartitioning to %d", partitions, cores, cores)
    return frame.repartition(cores), cores
