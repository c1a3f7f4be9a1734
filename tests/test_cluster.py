"""The job on a real Spark standalone cluster, submitted with spark-submit.

A master and a worker run in their own JVMs, started with the pyspark package's
``sbin/spark-daemon.sh`` (the script ``start-master.sh``/``start-worker.sh`` call; the wheel
ships it, not them). The worker launches a separate executor JVM whose Python workers are
separate from the driver. Everything listens on loopback; teardown stops the daemons and kills
whatever is left, whatever happened in the test.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from tests.conftest import REPO_ROOT
from tests.models import save_probe_model
from tests.spark_cluster import _submit_command, _submit_env, alive, running_cluster, watch


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    yield from running_cluster(tmp_path_factory)


def _forget_loads(markers: Path) -> None:
    """Drop the load markers MLflow's save_model left (it loads the model to check it)."""
    for marker in markers.iterdir():
        marker.unlink()


def _inputs(root: Path) -> Path:
    inputs = root / "input"
    inputs.mkdir()
    for part in range(3):
        frame = pd.DataFrame(
            {
                "id": [part * 100 + i for i in range(50)],
                "x": [float(i) for i in range(50)],
                "y": [0.5] * 50,
            }
        )
        frame.to_parquet(inputs / f"p{part}.parquet", index=False)
    return inputs


def _spec_text(inputs: Path, model: Path, output: Path) -> str:
    return f"""
gcsSource: {{format: PARQUET, uri: {inputs}, features: [x, y], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: PARQUET, uri: {output}}}
"""


@pytest.mark.spark35
def test_cluster_predictions_equal_local_mode(
    standalone_cluster: tuple[str, Path], spark: object, tmp_path: Path
) -> None:
    master, work_dir = standalone_cluster
    inputs = _inputs(tmp_path)
    stamp = tmp_path / "stamp.txt"
    stamp.write_text("shipped with the model")
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(
        tmp_path / "model", "sum", artifacts={"stamp": str(stamp)}, load_marker=str(markers)
    )
    _forget_loads(markers)
    spec = tmp_path / "cluster.yaml"
    spec.write_text(_spec_text(inputs, model, tmp_path / "out_cluster"))
    proc = subprocess.run(
        _submit_command(
            master,
            "--job-name",
            "cluster_job",
            "--spec-path",
            str(spec),
            "--status-path",
            str(tmp_path / "status.json"),
        ),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
        env=_submit_env(),
    )
    errors = [line for line in proc.stderr.splitlines() if " INFO " not in line]
    assert proc.returncode == 0, "\n".join(errors)[-3000:] + proc.stdout[-2000:]

    # stdout holds only the job's JSON objects (spark-submit's Python runner merges the
    # driver's stderr into stdout: the job's log lines and Spark's go to its log file).
    lines = proc.stdout.splitlines()
    assert all(line.startswith("{") for line in lines), proc.stdout[-3000:]
    events = [json.loads(line) for line in lines]
    assert [e["state"] for e in events if e["event"] == "state"] == [
        "PENDING",
        "RUNNING",
        "COMPLETED",
    ]
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["summary"].startswith("instances: 150 succeeded, 0 failed; rows written: 150")
    assert not re.search(r"^\S+ \S+ (WARN|ERROR) ", proc.stderr, re.M), proc.stderr[-3000:]
    running = next(e for e in events if e.get("state") == "RUNNING")
    assert str(running["spark_application_id"]).startswith("app-")  # a standalone app
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["spark_application_id"] == running["spark_application_id"]
    assert (status["state"], status["rows_read"], status["rows_written"]) == ("COMPLETED", 150, 150)
    print("cluster run:", status["stage_seconds"])

    # Executors loaded the shipped copy (unpacked in the worker's work dir), not the driver's.
    loads = [json.loads(p.read_text()) for p in markers.iterdir()]
    assert loads, "the model was never loaded"
    for artifacts in loads:
        loaded_from = Path(artifacts["stamp"]).resolve()
        assert loaded_from.is_relative_to(work_dir.resolve()), loaded_from
        assert not loaded_from.is_relative_to(model.resolve())

    # The same spec in local mode (this test process's session) gives the same predictions.
    local = run_job(
        spark,
        parse_spec_text(_spec_text(inputs, model, tmp_path / "out_local")),
        "local_job",
        "run1",
    )  # type: ignore[arg-type]
    assert local.rows_written == 150
    by_id = ["id"]
    cluster_rows = pd.read_parquet(tmp_path / "out_cluster").sort_values(by_id)
    local_rows = pd.read_parquet(tmp_path / "out_local").sort_values(by_id)
    pd.testing.assert_frame_equal(
        cluster_rows.reset_index(drop=True), local_rows.reset_index(drop=True)
    )
    assert cluster_rows["prediction"].tolist()[:3] == [0.5, 1.5, 2.5]


def test_sigterm_to_spark_submit_stops_the_cluster_job(
    standalone_cluster: tuple[str, Path], tmp_path: Path
) -> None:
    """Kubernetes signals the spark-submit JVM (the pod's main process), not the Python driver:
    the JVM hands SIGTERM to the driver, which cancels the executors' tasks, removes staging,
    reports TERMINATED, and spark-submit exits 143."""
    master, _ = standalone_cluster
    inputs = _inputs(tmp_path)
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(tmp_path / "model", "slow", value=120, load_marker=str(markers))
    _forget_loads(markers)
    output = tmp_path / "out"
    spec = tmp_path / "slow.yaml"
    spec.write_text(_spec_text(inputs, model, output))
    status = tmp_path / "status.json"
    proc = subprocess.Popen(
        _submit_command(
            master, "--job-name", "slow_job", "--spec-path", str(spec), "--status-path", str(status)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
        env=_submit_env(),
    )
    try:
        deadline = time.monotonic() + 180
        while not any(markers.iterdir()):  # an executor is predicting
            assert proc.poll() is None, "the job ended before predicting"
            assert time.monotonic() < deadline, "no executor started predicting"
            time.sleep(0.3)
        executor_python = watch(int(next(markers.iterdir()).name.split("-")[1]))
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # spark-submit execs the JVM: this is the JVM
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 143, stdout
    assert time.monotonic() - signalled < 60
    states = [json.loads(line)["state"] for line in stdout.splitlines() if '"state"' in line]
    assert states == ["PENDING", "RUNNING", "TERMINATING", "TERMINATED"]
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
    assert json.loads(status.read_text())["state"] == "TERMINATED"
    deadline = time.monotonic() + 20  # the executor's Python worker was killed with its task
    while alive(executor_python) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(executor_python)
