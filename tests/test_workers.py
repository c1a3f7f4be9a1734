"""Python workers: forked from spark_job's daemon with the model's libraries imported, and
warmed with the model before the job's tasks arrive."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from spark_job.scoring.model import ship_model
from spark_job.scoring.model_libraries import BASE_MODULES, preload_modules
from spark_job.scoring.preload import preload
from spark_job.scoring.warmup import WorkerWarmup, worker_environment
from tests.models import save_probe_model


def _worker_facts(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as cmdline:
        parent = cmdline.read().replace(b"\0", b" ").decode()
    for batch in batches:
        yield pd.DataFrame(
            {"parent": [parent] * len(batch), "colorsys": ["colorsys" in sys.modules] * len(batch)}
        )


def test_workers_fork_from_a_daemon_that_imported_the_modules(spark: Any) -> None:
    with worker_environment(spark, ["colorsys"]):
        frame = spark.range(4, numPartitions=2).mapInPandas(
            _worker_facts, "parent string, colorsys boolean"
        )
    rows = frame.collect()
    # the daemon was forked from the zygote, which imported the base modules at start
    assert {r.parent.split()[2] for r in rows} == {"spark_job.scoring.zygote"}
    assert all(r.colorsys for r in rows)


def test_a_module_that_cannot_be_imported_is_skipped(capsys: Any) -> None:
    assert preload(" json , no_such_module_for_spark_job ,") == ["no_such_module_for_spark_job"]
    assert "cannot preload no_such_module_for_spark_job" in capsys.readouterr().err


def test_preloaded_modules_follow_the_model_flavor(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(
        "flavors:\n"
        "  python_function: {loader_module: mlflow.sklearn}\n"
        "  sklearn: {serialization_format: skops}\n"
    )
    assert preload_modules(tmp_path) == (*BASE_MODULES, "mlflow.sklearn", "sklearn", "skops.io")
    assert preload_modules(tmp_path / "missing") == BASE_MODULES


def test_warmup_loads_the_model_once_per_worker(spark: Any, tmp_path: Path) -> None:
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(tmp_path / "model", "sum", load_marker=str(markers))
    for marker in markers.iterdir():  # MLflow's save_model loads the model once to check it
        marker.unlink()
    shipped = ship_model(spark, model)
    assert WorkerWarmup(spark, shipped.name, 2).start().wait(timeout=120)
    loads = list(markers.iterdir())
    assert 1 <= len(loads) <= 2
    assert len({m.name.split("-")[1] for m in loads}) == len(loads)  # one per process


def test_a_failing_warmup_ends_quietly(spark: Any) -> None:
    WorkerWarmup(spark, "no_such_model.zip", 2).start().stop()
    assert spark.range(3).count() == 3
