"""No shuffle unless it helps: repartition only an input with fewer partitions than cores."""

from __future__ import annotations

from spark_job.partitioning import cluster_cores, spread


def test_few_partitions_are_spread_over_the_cores(spark) -> None:
    cores = cluster_cores(spark)
    assert cores == 2  # the test session runs local[2]
    narrow = spark.range(0, 1000, numPartitions=1)
    spread_out = spread(narrow, cores)
    assert spread_out.rdd.getNumPartitions() == cores
    assert sorted(r.id for r in spread_out.collect()) == list(range(1000))


def test_a_well_partitioned_input_is_left_alone(spark) -> None:
    wide = spark.range(0, 1000, numPartitions=4)
    assert spread(wide, cluster_cores(spark)) is wide
    plan = wide._jdf.queryExecution().executedPlan().toString()
    assert "Exchange" not in plan
