"""The job on a real Spark standalone cluster: a master and a worker in their own JVMs, the
executor's Python workers separate from the driver, submitted with spark-submit.

The pyspark wheel ships ``bin/spark-class`` and ``sbin/spark-daemon.sh`` but not
``sbin/start-master.sh``/``start-worker.sh``; the master and worker are started with
``spark-class`` — the same classes those scripts start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from spark_job.dev.emulators import free_port
from tests.conftest import REPO_ROOT
from tests.models import save_probe_model

SPARK_HOME = Path(pyspark.__file__).parent


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "a cluster process exited at start"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"port {port} did not open")


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except OSError:  # the UI is still starting
        return 0


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(root), "PYSPARK_PYTHON": sys.executable}  # fmt: skip
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    logs = open(root / "cluster.log", "wb")  # noqa: SIM115 - closed in teardown
    try:
        master = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui_port)],
            env=env, stdout=logs, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(master)
        _wait_port(ui_port, master)
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
             "--cores", "2", "--memory", "1g", "--webui-port", str(free_port()),
             "--work-dir", str(root / "work"), f"spark://127.0.0.1:{port}"],
            env=env, stdout=logs, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(worker)
        deadline = time.monotonic() + 60
        while _alive_workers(ui_port) < 1:
            assert time.monotonic() < deadline, "the worker did not register"
            assert worker.poll() is None, (root / "cluster.log").read_text()[-2000:]
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


def test_cluster_predictions_equal_local_mode(standalone_cluster: str, tmp_path: Path) -> None:
    inputs = tmp_path / "input"
    inputs.mkdir()
    for part in range(3):
        frame = pd.DataFrame({"id": [part * 100 + i for i in range(50)],
                              "x": [float(i) for i in range(50)], "y": [0.5] * 50})  # fmt: skip
        frame.to_parquet(inputs / f"p{part}.parquet", index=False)
    model = save_probe_model(tmp_path / "model", "sum")
    outputs = {}
    for mode in ("cluster", "local"):
        outputs[mode] = tmp_path / f"out_{mode}"
        spec = tmp_path / f"{mode}.yaml"
        spec.write_text(
            f"""
gcsSource: {{format: PARQUET, uri: {inputs}, features: [x, y], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: PARQUET, uri: {outputs[mode]}}}
"""
        )
        args = ["--job-name", f"{mode}_job", "--spec-path", str(spec)]
        if mode == "cluster":
            command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", standalone_cluster,
                       "--conf", "spark.executor.memory=512m",
                       str(REPO_ROOT / "spark_job" / "main.py"), *args]  # fmt: skip
        else:
            command = [sys.executable, "-m", "spark_job", *args, "--local"]
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
            env={**os.environ, "SPARK_HOME": str(SPARK_HOME), "PYSPARK_PYTHON": sys.executable,
                 "PYSPARK_DRIVER_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"},
        )  # fmt: skip
        errors = [line for line in proc.stderr.splitlines() if " INFO " not in line]
        assert proc.returncode == 0, "\n".join(errors)[-3000:] + proc.stdout[-2000:]
        assert "rows in: 150, rows out: 150" in proc.stdout
        if mode == "cluster":
            running = [json.loads(line) for line in proc.stdout.splitlines() if '"RUNNING"' in line]
            assert running and str(running[0]["spark_application_id"]).startswith("app-")
    cluster = pd.read_parquet(outputs["cluster"]).sort_values("id").reset_index(drop=True)
    local = pd.read_parquet(outputs["local"]).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(cluster, local)
    assert cluster["prediction"].tolist()[:3] == [0.5, 1.5, 2.5]
