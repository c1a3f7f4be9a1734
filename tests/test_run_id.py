"""The run id: from --run-id, $SPARK_JOB_RUN_ID, the SparkApplication spark-operator submitted,
else random — and the same for every restart of a driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from spark_job.errors import UserError
from spark_job.run.run_id import APP_NAME_CONF, resolve_run_id, submitted_conf
from tests.conftest import REPO_ROOT

SPARK_HOME = Path(pyspark.__file__).parent


def _operator(name: str | None):  # type: ignore[no-untyped-def]
    """A Spark conf as spark-operator's submission sets it (``None``: not submitted by it)."""
    return lambda key: name if key == APP_NAME_CONF else None


def test_precedence() -> None:
    env = {"SPARK_JOB_RUN_ID": "from-env"}
    app = _operator("iris-nightly-3f2a9c1d")
    assert resolve_run_id("from-flag", env, app) == "from-flag"
    assert resolve_run_id(None, env, app) == "from-env"
    assert resolve_run_id(None, {}, app) == "iris-nightly-3f2a9c1d"
    first, second = resolve_run_id(None, {}, _operator(None)), resolve_run_id(None, {})
    assert first != second and len(first) == 12  # random: every run a new run


def test_invalid_run_ids_name_their_origin() -> None:
    with pytest.raises(UserError, match=r"--run-id: 'a/b' is not a run id"):
        resolve_run_id("a/b", {})
    with pytest.raises(UserError, match=r"\$SPARK_JOB_RUN_ID: ' ' is not a run id"):
        resolve_run_id(None, {"SPARK_JOB_RUN_ID": " "}, _operator(None))
    with pytest.raises(UserError, match="--run-id: '.*' is not a run id"):
        resolve_run_id("x" * 201, {})


def test_no_jvm_is_started_to_look_for_spark_operator(monkeypatch) -> None:
    """Run with ``--local``, nothing but the session may start the JVM (with its own conf)."""
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert submitted_conf(APP_NAME_CONF) is None


def test_spark_operator_submission_gives_the_sparkapplications_name(tmp_path: Path) -> None:
    """spark-submit as spark-operator runs it (``--conf
    spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name=NAME``, on every restart): the
    driver's PENDING state carries NAME as its run id. The spec does not exist, so the job stops
    right after (exit 2) and no SparkSession is built."""
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    env.pop("SPARK_JOB_RUN_ID", None)
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master", "local[1]",
        "--conf", f"{APP_NAME_CONF}=iris-nightly-3f2a9c1d",
        str(REPO_ROOT / "spark_job" / "main.py"),
        "--job-name", "iris_nightly",
        "--spec-path", str(tmp_path / "missing.yaml"),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    states = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    pending = [s for s in states if s.get("state") == "PENDING"]
    assert pending and pending[0]["run_id"] == "iris-nightly-3f2a9c1d"
