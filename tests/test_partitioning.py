"""No shuffle unless it helps: an input is repartitioned only when it has fewer partitions than
the cluster has cores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from spark_job.run.partitioning import cluster_cores, planned_cores, spread
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from tests.models import save_probe_model


def _plan(frame: Any) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def test_fewer_partitions_than_cores_are_spread(spark: Any) -> None:
    frame = spark.range(100).coalesce(1)
    spread_frame, partitions = spread(frame, 4)
    assert partitions == 4 and spread_frame.rdd.getNumPartitions() == 4
    assert "RoundRobinPartitioning(4)" in _plan(spread_frame)
    assert sorted(r.id for r in spread_frame.collect()) == list(range(100))


def test_a_well_partitioned_input_is_never_shuffled(spark: Any) -> None:
    frame = spark.range(0, 100, numPartitions=6)
    assert spread(frame, 4) == (frame, 6)
    assert spread(frame, 6) == (frame, 6)
    assert "Exchange" not in _plan(spread(frame, 6)[0])


def test_cores_of_the_application() -> None:
    assert planned_cores("local[3]", {"spark.executor.instances": "9"}, 3) == 3
    on_kubernetes = {"spark.executor.instances": "3", "spark.executor.cores": "2"}
    assert planned_cores("k8s://https://api:443", on_kubernetes, 2) == 6
    dynamic = {**on_kubernetes, "spark.dynamicAllocation.enabled": "true",
               "spark.dynamicAllocation.maxExecutors": "10"}  # fmt: skip
    assert planned_cores("k8s://https://api:443", dynamic, 2) == 20
    unbounded = {**dynamic, "spark.dynamicAllocation.maxExecutors": str(2**31 - 1)}
    assert planned_cores("k8s://https://api:443", unbounded, 4) == 4  # registered cores
    assert planned_cores("spark://master:7077", {}, 5) == 5  # standalone: registered cores
    assert planned_cores("spark://master:7077", {"spark.executor.cores": "x"}, 0) == 1


def test_job_spreads_a_single_file_over_the_cores(spark: Any, tmp_path: Path) -> None:
    """One small Parquet file is one partition: the job spreads it over local[2]'s two cores,
    so two Python workers predict. (Many files stay as Spark planned them.)"""
    assert cluster_cores(spark) == 2
    source = tmp_path / "one.parquet"
    pd.DataFrame({"id": range(1000), "x": [1.0] * 1000}).to_parquet(source, index=False)
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(tmp_path / "model", "slow", value=1.0, load_marker=str(markers))
    for marker in markers.iterdir():  # MLflow's save_model loads the model once to check it
        marker.unlink()
    spec = f"""
gcsSource: {{format: PARQUET, uri: {source}, features: [x], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
"""
    result = run_job(spark, parse_spec_text(spec), "spread", "run1")
    assert result.rows_written == 1000
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 2
    # Two worker processes at least: the warm-up also loads the model in idle workers that
    # earlier tests of the session left, so more may have loaded it.
    assert len({m.name.split("-")[1] for m in markers.iterdir()}) >= 2
