"""A real Spark standalone cluster for tests: a master and a worker in their own JVMs, started
with the pyspark package's ``sbin/spark-daemon.sh`` (the script ``start-master.sh`` and
``start-worker.sh`` call; the wheel ships it, not them), and the spark-submit command that runs
the job on it. Shared by tests/test_cluster.py and tests/test_faults_cluster.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyspark
import pytest

from spark_job.dev.emulators import free_port
from tests.conftest import REPO_ROOT, TEST_JAVA_OPTIONS

SPARK_HOME = Path(pyspark.__file__).parent
DAEMON = SPARK_HOME / "sbin" / "spark-daemon.sh"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
START_TIMEOUT = 60.0


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except OSError:  # the UI is still starting
        return 0


def watch(pid: int) -> psutil.Process | None:
    """The process ``pid`` names now (None if none does), to ask :func:`alive` about later."""
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def alive(process: psutil.Process | None) -> bool:
    """True while ``process`` runs: the same process, by its start time — not a later one
    given the same number (Linux hands numbers out again soon: ``pid_max`` is 32768 here and
    every JVM thread takes one) — and not a zombie (dead, not yet reaped)."""
    try:
        return (
            process is not None
            and process.is_running()
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.NoSuchProcess:
        return False


class Daemons:
    """Spark daemons started with ``spark-daemon.sh``; :meth:`stop_all` ends every one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(root / "logs"),
            "SPARK_PID_DIR": str(root / "pids"),
            "SPARK_IDENT_STRING": "test",
            "PYSPARK_PYTHON": sys.executable,
        }
        self.env.pop("SPARK_MASTER", None)  # spark-daemon.sh would rsync from it
        self.started: list[tuple[str, psutil.Process | None]] = []

    def start(self, cls: str, *args: str) -> psutil.Process | None:
        subprocess.run(
            [str(DAEMON), "start", cls, "1", *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        pid_file = self.root / "pids" / f"spark-test-{cls}-1.pid"
        daemon = watch(int(pid_file.read_text().strip()))
        self.started.append((cls, daemon))
        return daemon

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted((self.root / "logs").glob("*")))

    def stop_all(self) -> None:
        for cls, daemon in reversed(self.started):
            subprocess.run(
                [str(DAEMON), "stop", cls, "1"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            deadline = time.monotonic() + 15
            while alive(daemon) and time.monotonic() < deadline:
                time.sleep(0.2)
            if daemon is not None and alive(daemon):
                daemon.kill()


def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(master URL, worker work dir)`` of a running master + worker (1 core, 1g); the body
    of a test module's ``standalone_cluster`` fixture."""
    root = tmp_path_factory.mktemp("cluster")
    daemons = Daemons(root)
    port, ui_port = free_port(), free_port()
    work_dir = root / "work"
    try:
        daemons.start(
            MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)
        )
        worker = daemons.start(
            WORKER_CLASS,
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            "1g",
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(work_dir),
            f"spark://127.0.0.1:{port}",
        )
        deadline = time.monotonic() + START_TIMEOUT
        while _alive_workers(ui_port) < 1:
            assert alive(worker), daemons.logs()
            assert time.monotonic() < deadline, "the worker did not register\n" + daemons.logs()
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{port}", work_dir
    finally:
        daemons.stop_all()


def _submit_env() -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


def _submit_command(master: str, *job_args: str) -> list[str]:
    return [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        master,
        "--conf",
        "spark.executor.memory=512m",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",  # the executors' JVMs, like every test JVM (tests/conftest.py)
        f"spark.executor.defaultJavaOptions={TEST_JAVA_OPTIONS}",
        str(REPO_ROOT / "spark_job" / "main.py"),
        *job_args,
    ]
