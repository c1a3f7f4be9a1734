"""Task retries in local mode: ``--local`` runs ``local[*,F]`` as a cluster would retry.

The session fixture is ``local[2,4]``: a task that fails once (transiently) is retried and the
job completes with every row exactly once; a task failing on all 4 attempts fails the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_job.run.runner import run_job
from spark_job.run.session import DEFAULT_TASK_ATTEMPTS, local_master, task_attempts
from spark_job.spec import parse_spec_text
from tests.models import save_probe_model

ROWS = 400


def test_local_master_takes_the_users_max_failures(tmp_path: Path) -> None:
    assert local_master({}, {}) == f"local[*,{DEFAULT_TASK_ATTEMPTS}]" == "local[*,4]"
    assert task_attempts({"spark.task.maxFailures": "2"}, {}) == 2
    submit = {"PYSPARK_SUBMIT_ARGS": "--conf spark.task.maxFailures=6 pyspark-shell"}
    assert task_attempts({}, submit) == 6
    assert task_attempts({"spark.task.maxFailures": "3"}, submit) == 3  # SparkConf wins
    (tmp_path / "spark-defaults.conf").write_text("# x\nspark.task.maxFailures   5\n")
    assert task_attempts({}, {"SPARK_CONF_DIR": str(tmp_path)}) == 5
    assert task_attempts({"spark.task.maxFailures": "zero"}, {}) == 4


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("retries") / "in"
    root.mkdir()
    for part in range(4):  # several files: several tasks, each failing once
        ids = range(part * ROWS // 4, (part + 1) * ROWS // 4)
        frame = pd.DataFrame({"id": list(ids), "x": [float(i) for i in ids]})
        frame.to_parquet(root / f"part-{part}.parquet")
    return root


def _spec(input_dir: Path, model: Path, output: Path) -> Any:
    return parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: "{input_dir}", features: [x], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: JSON, uri: "{output}"}}
""")


def test_a_transient_task_failure_is_retried(spark: Any, input_dir: Path, tmp_path: Path) -> None:
    assert spark.sparkContext.master == "local[2,4]"
    model = save_probe_model(tmp_path / "model", "fail_attempts", value=1)
    output = tmp_path / "out"
    result = run_job(spark, _spec(input_dir, model, output), "retries", "run1")
    assert result.status == "COMPLETED"
    assert (result.rows_predicted, result.rows_failed, result.rows_written) == (ROWS, 0, ROWS)
    written = pd.concat(pd.read_json(p, lines=True) for p in sorted(output.glob("prediction.*")))
    assert sorted(written["id"]) == list(range(ROWS))  # every row, exactly once
    assert (written["prediction"] == written["x"]).all()


def test_a_task_failing_every_attempt_fails_the_job(
    spark: Any, input_dir: Path, tmp_path: Path
) -> None:
    model = save_probe_model(tmp_path / "model", "fail_attempts", value=DEFAULT_TASK_ATTEMPTS)
    output = tmp_path / "out"
    with pytest.raises(Exception, match=r"transient failure, attempt 3"):
        run_job(spark, _spec(input_dir, model, output), "retries", "run2")
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
