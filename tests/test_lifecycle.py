"""States, SIGTERM, the status file and progress lines, through the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.models import save_probe_model


def _inputs(root: Path, partitions: int = 4) -> Path:
    directory = root / "input"
    directory.mkdir()
    for part in range(partitions):
        frame = pd.DataFrame({"id": [part * 10 + i for i in range(10)], "x": [1.0] * 10})
        frame.to_parquet(directory / f"p{part}.parquet", index=False)
    return directory


def _spec(root: Path, model: Path, output: Path) -> Path:
    spec = root / "spec.yaml"
    spec.write_text(
        f"""
gcsSource: {{format: PARQUET, uri: {root / "input"}, features: [x], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: JSON, uri: {output}}}
"""
    )
    return spec


def _start(spec: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spark_job", "--job-name", "lifecycle", "--spec-path", str(spec),
         "--local", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )  # fmt: skip


def _events(stdout: str, kind: str = "state") -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == kind]


def test_completed_run_states_status_file_and_progress(tmp_path: Path) -> None:
    _inputs(tmp_path)
    model = save_probe_model(tmp_path / "model", "slow", value=1.5)
    output = tmp_path / "out"
    status = tmp_path / "status" / "final.json"
    proc = _start(_spec(tmp_path, model, output), "--status-path", str(status),
                  "--progress-interval", "0.5")  # fmt: skip
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    states = [event["state"] for event in _events(stdout)]
    assert states == ["PENDING", "RUNNING", "COMPLETED"]
    progress = _events(stdout, "progress")
    assert progress, stdout
    assert {"rows", "rows_per_s", "tasks_done", "tasks"} <= set(progress[-1])
    document = json.loads(status.read_text())
    assert document["state"] == "COMPLETED" and document["error"] is None
    assert document["rows_read"] == document["rows_predicted"] == document["rows_written"] == 40
    assert document["rows_failed"] == 0
    assert document["spark_application_id"].startswith("local-")
    assert {"prepare", "run"} <= set(document["stage_seconds"])
    assert document["rows_per_second"] > 0


def test_failed_run_reports_failed(tmp_path: Path) -> None:
    _inputs(tmp_path, partitions=1)
    model = save_probe_model(tmp_path / "model", "no-such-behaviour")
    status = tmp_path / "status.json"
    proc = _start(_spec(tmp_path, model, tmp_path / "out"), "--status-path", str(status))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr[-3000:]
    events = _events(stdout)
    assert [event["state"] for event in events] == ["PENDING", "RUNNING", "FAILED"]
    assert "unknown behaviour" in str(events[-1]["error"])
    document = json.loads(status.read_text())
    assert document["state"] == "FAILED" and "unknown behaviour" in document["error"]


def test_sigterm_cancels_cleans_up_and_exits_143(tmp_path: Path) -> None:
    _inputs(tmp_path)
    model = save_probe_model(tmp_path / "model", "slow", value=60)
    output = tmp_path / "out"
    status = tmp_path / "status.json"
    proc = _start(_spec(tmp_path, model, output), "--status-path", str(status))
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # wait until Spark runs, then give tasks time to start
        if '"RUNNING"' in line or time.monotonic() > deadline:
            break
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    try:
        rest, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the job did not stop within 90 s of SIGTERM")
    assert proc.returncode == 143, stderr[-3000:]
    states = [event["state"] for event in _events(rest)]
    assert states[-2:] == ["TERMINATING", "TERMINATED"]
    assert not output.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert json.loads(status.read_text())["state"] == "TERMINATED"
