"""The fault suite on a real standalone cluster: an executor JVM killed with SIGKILL while its
task scores (the Python worker under it dies with it); the master starts a new executor, the
task runs again there, and the output is complete with every row once, for each sink."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.fault_cases import (
    SINKS,
    TALLY,
    TALLY_PATH,
    check_outcome,
    events,
    new_case,
    save_fault_model,
    write_inputs,
)
from tests.spark_cluster import _submit_command, _submit_env, alive, running_cluster, watch

EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


@pytest.fixture(scope="module")
def standalone_cluster(
    emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """Started after the emulators: executors inherit their endpoints from the worker."""
    yield from running_cluster(tmp_path_factory)
    TALLY.write(TALLY_PATH)


def _executor(work_dir: Path) -> psutil.Process | None:
    """The executor JVM the cluster's worker launched (it runs in the worker's work dir)."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            if EXECUTOR_CLASS in (process.info["cmdline"] or []) and Path(
                process.cwd()
            ).is_relative_to(work_dir):
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", SINKS)
def test_an_executor_killed_mid_stage(
    standalone_cluster: tuple[str, Path], emulators: Any, tmp_path: Path, kind: str
) -> None:
    master, work_dir = standalone_cluster
    inputs = write_inputs(tmp_path / "in")
    gate = tmp_path / "hold"
    gate.touch()
    model = save_fault_model(tmp_path / "model", "hold_all", gate=str(gate))
    case = new_case(kind, tmp_path)
    spec = case.write_spec(str(inputs), model)
    command = _submit_command(master, "--job-name", "faults", "--spec-path", str(spec),
                              "--run-id", "x1")  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env=_submit_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("hold.started-*")):  # a task is scoring
            assert proc.poll() is None, "the job ended before scoring"
            assert time.monotonic() < deadline, "no task started scoring"
            time.sleep(0.2)
        worker_python = watch(int(next(tmp_path.glob("hold.started-*")).name.rsplit("-", 1)[1]))
        executor = _executor(work_dir)
        assert executor is not None, "no executor JVM found"
        executor.kill()  # SIGKILL
        deadline = time.monotonic() + 30
        while alive(worker_python) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(worker_python), "the Python worker outlived its executor"
        gate.unlink()  # the retried task, on a new executor, may finish
        stdout, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, stdout[-3000:]
    states = [e["state"] for e in events(stdout) if e.get("event") == "state"]
    assert states == ["PENDING", "RUNNING", "COMPLETED"]
    check_outcome(case, "executor JVM killed mid-stage (cluster)", 1, expect="complete")
