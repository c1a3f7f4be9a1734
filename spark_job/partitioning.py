"""Spreading the input over the cluster only when that helps.

Merlin always repartitions, a full shuffle of the input. Here a shuffle happens only when the
input has fewer partitions than the cluster has cores (executors × cores): then some cores
would sit idle while the model runs. A well-partitioned input is never shuffled.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def cluster_cores(spark: SparkSession) -> int:
    """Task slots of the application (Spark's default parallelism: executors × cores)."""
    return max(1, int(spark.sparkContext.defaultParallelism))


def spread(frame: DataFrame, cores: int) -> DataFrame:
    """``frame``, repartitioned to ``cores`` partitions if it has fewer, else unchanged."""
    partitions = frame.rdd.getNumPartitions()
    if partitions >= cores:
        return frame
    log.warning(
        "input has %d partitions for %d cores: repartitioning to %d", partitions, cores, cores
    )
    return frame.repartition(cores)
