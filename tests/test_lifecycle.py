"""States, SIGTERM, the status file and progress: the CLI in a subprocess (a real signal, a
real exit code), the status document and progress reporter in-process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_job.run.progress import ProgressReporter, describe, render_bar
from spark_job.run.status import RunMeter, status_document, write_status
from spark_job.sources.parquet_rows import FooterRowCount
from spark_job.storage.input_files import InputFile
from tests.conftest import REPO_ROOT
from tests.models import save_probe_model
from tests.spark_cluster import alive, watch

ROWS = 40


def _inputs(root: Path, files: int = 4) -> Path:
    directory = root / "input"
    directory.mkdir()
    per_file = ROWS // files
    for part in range(files):
        ids = [part * per_file + i for i in range(per_file)]
        pd.DataFrame({"id": ids, "x": [1.0] * per_file}).to_parquet(
            directory / f"p{part}.parquet", index=False
        )
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
    command = [sys.executable, "-m", "spark_job", "--job-name", "lifecycle",
               "--spec-path", str(spec), "--local", *extra]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        pytest.fail(f"the job did not end within {timeout:.0f} s")


def _events(stdout: str, kind: str = "state") -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == kind]


def _states(stdout: str) -> list[str]:
    return [event["state"] for event in _events(stdout)]


# --------------------------------------------------------------------------- CLI runs


@pytest.mark.spark35
def test_completed_run_states_status_file_and_progress(tmp_path: Path) -> None:
    _inputs(tmp_path)
    model = save_probe_model(tmp_path / "model", "slow", value=1.5)
    output = tmp_path / "out"
    status = tmp_path / "status" / "final.json"
    proc = _start(_spec(tmp_path, model, output), "--status-path", str(status),
                  "--progress-interval", "0.5")  # fmt: skip
    stdout, stderr = _finish(proc, 300)
    assert proc.returncode == 0, stderr[-3000:]
    assert _states(stdout) == ["PENDING", "RUNNING", "COMPLETED"]
    completed = _events(stdout)[-1]
    assert completed["rows_written"] == ROWS and completed["destination"] == str(output)
    # Not a terminal: stdout is the job's JSON objects only (Spark's logs are in the log file).
    assert all(line.startswith("{") for line in stdout.splitlines()), stdout
    (summary,) = _events(stdout, "summary")
    assert summary["summary"].startswith(
        f"instances: {ROWS} succeeded, 0 failed; rows written: {ROWS}"
    )
    assert (summary["outcome"], summary["rows_written"], summary["rows_failed"]) == (
        "COMPLETED", ROWS, 0,
    )  # fmt: skip

    progress = _events(stdout, "progress")
    assert progress, stdout
    rows = [line["rows"] for line in progress]
    assert rows == sorted(rows) and rows[-1] <= ROWS
    # The Parquet footers, counted on executors while the job starts, gave the total: once
    # known, every line has a percent.
    known = [i for i, line in enumerate(progress) if "percent" in line]
    assert known and known == list(range(known[0], len(progress))), progress
    assert all(0 <= progress[i]["percent"] <= 100 for i in known)
    assert {"rows_per_s", "tasks_done", "tasks", "elapsed_s", "failed"} <= set(progress[-1])

    document = json.loads(status.read_text())
    assert document["state"] == "COMPLETED" and document["outcome"] == "COMPLETED"
    assert document["error"] is None and document["job_name"] == "lifecycle"
    counts = [document[k] for k in ("rows_read", "rows_predicted", "rows_failed", "rows_written")]
    assert counts == [ROWS, ROWS, 0, ROWS]
    assert document["spark_application_id"].startswith("local-")
    assert document["destination"] == str(output)
    stages = document["stage_seconds"]
    assert set(stages) == {"session", "prepare", "predict", "publish", "report", "total"}
    assert stages["predict"] >= 1.5  # the model sleeps 1.5 s per batch
    assert stages["total"] >= stages["session"] + stages["prepare"] + stages["predict"]
    assert document["rows_per_second"] == pytest.approx(ROWS / stages["predict"], abs=0.06)
    assert document["started_at"] < document["finished_at"]


def test_failed_run_reports_failed(tmp_path: Path) -> None:
    _inputs(tmp_path, files=1)
    model = save_probe_model(tmp_path / "model", "no-such-behaviour")
    status = tmp_path / "status.json"
    proc = _start(_spec(tmp_path, model, tmp_path / "out"), "--status-path", str(status))
    stdout, stderr = _finish(proc, 300)
    assert proc.returncode == 2, stderr[-3000:]  # the model raised on an instance
    assert _states(stdout) == ["PENDING", "RUNNING", "FAILED"]
    assert "unknown behaviour" in _events(stdout)[-1]["error"]
    document = json.loads(status.read_text())
    assert document["state"] == "FAILED" and "unknown behaviour" in document["error"]
    assert document["rows_predicted"] == 0 and document["rows_written"] == 0
    assert {"session", "prepare", "predict", "total"} <= set(document["stage_seconds"])
    assert not (tmp_path / "out").exists()


@pytest.mark.spark35
def test_sigterm_cancels_cleans_up_and_exits_143(tmp_path: Path) -> None:
    _inputs(tmp_path)
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(tmp_path / "model", "slow", value=120, load_marker=str(markers))
    for marker in markers.iterdir():  # MLflow's save_model loads the model once to check it
        marker.unlink()
    output = tmp_path / "out"
    status = tmp_path / "status.json"
    proc = _start(_spec(tmp_path, model, output), "--status-path", str(status))
    deadline = time.monotonic() + 180
    while not any(markers.iterdir()):  # a Python worker is predicting (for 120 s)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the model was never loaded")
        time.sleep(0.3)
    worker = watch(int(next(markers.iterdir()).name.split("-")[1]))
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = _finish(proc, 60)
    assert proc.returncode == 143, stderr[-3000:]
    assert time.monotonic() - signalled < 60  # the 120 s batch was cancelled, not awaited
    assert _states(stdout) == ["PENDING", "RUNNING", "TERMINATING", "TERMINATED"]
    assert not output.exists()  # nothing published
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no staging
    document = json.loads(status.read_text())
    assert document["state"] == "TERMINATED" and document["error"] == "stopped by SIGTERM"
    assert document["rows_written"] == 0 and "predict" in document["stage_seconds"]
    deadline = time.monotonic() + 20  # the Python worker running the model is gone too
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(worker)


def test_sigterm_before_spark_is_up_stops_at_once(tmp_path: Path) -> None:
    _inputs(tmp_path, files=1)
    model = save_probe_model(tmp_path / "model", "sum")
    proc = _start(_spec(tmp_path, model, tmp_path / "out"))
    assert proc.stdout is not None
    first = proc.stdout.readline()  # PENDING: the JVM is starting
    assert json.loads(first)["state"] == "PENDING"
    proc.send_signal(signal.SIGTERM)
    rest, stderr = _finish(proc, 60)
    assert proc.returncode == 143, stderr[-3000:]
    assert _states(first + rest) == ["PENDING", "TERMINATING", "TERMINATED"]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- in-process


def test_status_of_a_stopped_run_tells_how_far_it_got() -> None:
    meter = RunMeter()
    meter.begin("session")
    meter.begin("predict")
    time.sleep(0.05)
    meter.count("rows_predicted", lambda: 1200)
    meter.count("rows_failed", lambda: 3)
    meter.count("rows_written", lambda: 1 // 0)  # a counter that cannot be read is left out
    document = status_document("TERMINATED", "job", "run7", error="stopped by SIGTERM",
                               meter=meter, application_id="app-1")  # fmt: skip
    assert document["state"] == "TERMINATED" and document["run_id"] == "run7"
    assert (document["rows_predicted"], document["rows_failed"]) == (1200, 3)
    assert document["rows_written"] == 0 and document["rows_read"] == 0
    assert document["stage_seconds"]["predict"] >= 0.05
    assert document["stage_seconds"]["total"] >= document["stage_seconds"]["predict"]
    assert document["rows_per_second"] == pytest.approx(
        1200 / document["stage_seconds"]["predict"], rel=0.01
    )
    assert document["spark_application_id"] == "app-1" and document["destination"] is None


def test_status_file_local_and_gcs(tmp_path: Path, emulators: object) -> None:
    from tests.gcs_helpers import get, new_bucket

    document = status_document("FAILED", "job", "run1", error="boom")
    local = tmp_path / "a" / "b" / "status.json"
    write_status(str(local), document)
    assert json.loads(local.read_text()) == document
    assert [p.name for p in local.parent.iterdir()] == ["status.json"]  # no partial left
    bucket = new_bucket("status")
    write_status(f"gs://{bucket}/runs/run1/status.json", document)
    assert json.loads(get(bucket, "runs/run1/status.json")) == document


def test_progress_lines_and_live_bar(spark: Any) -> None:
    context = spark.sparkContext
    for live in (False, True):
        done = context.accumulator(0)

        def work(_: int, done: Any = done) -> None:
            time.sleep(0.4)
            done.add(10)

        out = io.StringIO()
        with ProgressReporter(context, done, total_rows=40, interval=0.2, out=out, live=live):
            context.parallelize(range(4), 4).foreach(work)
        text = out.getvalue()
        if live:  # redrawn in place, left on its own line at the end
            assert text.startswith("\r") and text.endswith("\n") and "rows/s" in text
            assert "[" in text and "%" in text
        else:
            lines = [json.loads(line) for line in text.splitlines()]
            assert lines and all(line["event"] == "progress" for line in lines)
            assert [line["rows"] for line in lines] == sorted(line["rows"] for line in lines)
            assert max(line["tasks"] for line in lines) == 4


def test_progress_record_and_bar() -> None:
    record = describe(rows=300, elapsed=3.0, total=1200, tasks=(1, 4))
    assert record["rows_per_s"] == 100.0 and record["percent"] == 25.0
    assert record["eta_s"] == 9.0
    assert render_bar(record).startswith("[#######-")
    unknown = describe(rows=300, elapsed=3.0, total=None, tasks=(1, 4))
    assert "percent" not in unknown and "eta_s" not in unknown
    assert render_bar(unknown).startswith("300 rows")


def test_parquet_row_counts_from_footers_on_executors(
    spark: Any, tmp_path: Path, emulators: object
) -> None:
    from spark_job.storage import gcs
    from tests.gcs_helpers import new_bucket, put

    def count(files: list[InputFile]) -> int | None:
        return FooterRowCount(spark, files, gcs.emulator_host()).start().wait(120)

    files = []
    for index, rows in enumerate((3, 5)):
        path = tmp_path / f"f{index}.parquet"
        pd.DataFrame({"x": range(rows)}).to_parquet(path)
        files.append(InputFile(str(path), path.stat().st_size))
    assert count(files) == 8
    bucket = new_bucket("rows")
    remote = put(bucket, "in/f.parquet", (tmp_path / "f1.parquet").read_bytes())
    assert count([*files, InputFile(remote, 0)]) == 13
    # An unreadable footer gives no total (the read reports the file), and fails no task.
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert count([*files, InputFile(str(tmp_path / "bad.parquet"), 11)]) is None
    # Progress asks for the total as it goes: None until the count has answered.
    waiting = FooterRowCount(spark, files, None)
    assert waiting.result() is None
    assert waiting.start().wait(120) == 8 and waiting.result() == 8
