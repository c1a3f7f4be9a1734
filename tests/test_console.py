"""The console shows the job's lines only: states, progress, the summary, errors. Spark's logs,
task failures and tracebacks go to the job's log file (``--local`` and ``spark-submit``);
``SPARK_JOB_DEBUG=1`` shows everything. Each test runs the CLI in a subprocess (a JVM each)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from tests.conftest import REPO_ROOT
from tests.models import save_probe_model

SPARK_HOME = Path(pyspark.__file__).parent
ROWS = 40
#: A log4j line (Spark's layouts start with the date), at any level.
LOG4J_LINE = re.compile(
    r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) ", re.M
)
JAVA_FRAME = "\tat org.apache"


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("console")
    (root / "input").mkdir()
    for part in range(2):
        ids = range(part * ROWS // 2, (part + 1) * ROWS // 2)
        frame = pd.DataFrame({"id": list(ids), "x": [1.0] * (ROWS // 2)})
        frame.to_parquet(root / "input" / f"p{part}.parquet", index=False)
    models = {
        "broken": save_probe_model(root / "broken", "no-such-behaviour"),  # raises in predict
        "sum": save_probe_model(root / "sum", "sum"),
        "slow": save_probe_model(root / "slow", "slow", value=0.6),
    }
    for name, model in models.items():
        (root / f"{name}.yaml").write_text(f"""
gcsSource: {{format: PARQUET, uri: {root / "input"}, features: [x], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: JSON, uri: {root / "out" / name}, save_mode: OVERWRITE}}
""")
    return {"root": root}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_JOB_DEBUG", None)
    env.update(extra)
    return env


def _cli(
    job: dict[str, Path], name: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "spark_job", "--job-name", name,
               "--spec-path", str(job["root"] / f"{name}.yaml"), "--local", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                          env=_env(**env))  # fmt: skip


def _assert_only_our_lines(console: str) -> None:
    assert "Traceback" not in console, console[-3000:]
    assert JAVA_FRAME not in console, console[-3000:]
    assert not LOG4J_LINE.search(console), console[-3000:]
    assert "WARN" not in console and "log4j" not in console, console[-3000:]


def _assert_task_failure_logged(log_file: Path) -> None:
    text = log_file.read_text()
    assert "unknown behaviour no-such-behaviour" in text
    assert re.search(r" (ERROR|WARN) (Executor|TaskSetManager): ", text), text[-3000:]
    assert "Traceback" in text  # the Python worker's, in Spark's task failure


def test_a_failing_model_shows_one_error_line(job: dict[str, Path], tmp_path: Path) -> None:
    """The model raising in a task: one line naming the instance (exit 2); Spark's task
    failure, with the worker's traceback, only in the log file the JSON events name."""
    log_file = tmp_path / "logs" / "broken.log"
    proc = _cli(job, "broken", "--log-file", str(log_file))
    assert proc.returncode == 2, proc.stderr[-3000:]
    _assert_only_our_lines(proc.stdout + proc.stderr)
    assert proc.stderr.splitlines() == [f"error: {_model_failure(proc.stderr)}"]
    assert "unknown behaviour no-such-behaviour" in proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # JSON objects only
    states = [e for e in events if e.get("event") == "state"]  # progress objects may come too
    assert [e["state"] for e in states] == ["PENDING", "RUNNING", "FAILED"]
    assert states[1]["log_file"] == str(log_file)
    _assert_task_failure_logged(log_file)
    assert "NativeCodeLoader" in log_file.read_text()  # the JVM's start-up lines too


def _model_failure(stderr: str) -> str:
    line = stderr.splitlines()[0]
    assert line.startswith("error: gcsSource: the model failed on "), line
    return line.removeprefix("error: ")


def test_spark_job_debug_shows_everything(job: dict[str, Path], tmp_path: Path) -> None:
    proc = _cli(job, "broken", "--log-file", str(tmp_path / "debug.log"), SPARK_JOB_DEBUG="1")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "error: gcsSource: the model failed on " in proc.stderr
    assert "Traceback" in proc.stderr and LOG4J_LINE.search(proc.stderr)
    assert "INFO spark_job." in proc.stderr  # the job's own log lines, in full


def test_a_terminal_gets_human_lines_and_a_live_bar(job: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "spark_job", "--job-name", "slow",
               "--spec-path", str(job["root"] / "slow.yaml"), "--local",
               "--progress-interval", "0.2"]  # fmt: skip
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            cwd=REPO_ROOT, env=_env())  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the job ended: the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=300) == 0, b"".join(chunks)[-3000:]
    text = b"".join(chunks).decode(errors="replace")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    assert lines[0].startswith("PENDING     slow, run ")
    assert lines[1].startswith("RUNNING     Spark local-") and "; full log: " in lines[1]
    assert lines[-2] == "COMPLETED"
    assert lines[-1].startswith(f"instances: {ROWS} succeeded, 0 failed; rows written: {ROWS}")
    bar = [line for line in lines if "rows/s" in line]
    assert bar and "\r\x1b[2K" in text, text[-3000:]  # redrawn in place
    assert re.search(r"\] 100\.0%  40 rows  .* rows/s  tasks \d+/\d+  0 failed", text), text
    assert "{" not in text and "error:" not in text
    _assert_only_our_lines(text)


def test_quiet_prints_only_the_summary(job: dict[str, Path]) -> None:
    proc = _cli(job, "sum", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    summary = json.loads(line)
    assert summary["event"] == "summary" and summary["outcome"] == "COMPLETED"
    assert summary["summary"].startswith(f"instances: {ROWS} succeeded, 0 failed")
    assert (summary["rows_read"], summary["rows_written"], summary["rows_failed"]) == (
        ROWS, ROWS, 0,
    )  # fmt: skip


def test_spark_submit_failure_keeps_spark_logs_off_the_console(
    job: dict[str, Path], tmp_path: Path
) -> None:
    """spark-submit starts the JVM before the job: the job moves log4j's output and the JVM's
    standard error to its log file once it runs. (The driver's stderr is merged into stdout.)"""
    log_file = tmp_path / "submit.log"
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[2]",
        str(REPO_ROOT / "spark_job" / "main.py"), "--job-name", "broken",
        "--spec-path", str(job["root"] / "broken.yaml"), "--log-file", str(log_file),
    ]  # fmt: skip
    env = _env(
        SPARK_HOME=str(SPARK_HOME), PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",  # else a loopback hostname warns before the job starts
    )  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console and JAVA_FRAME not in console, console[-3000:]
    assert not re.search(r" (WARN|ERROR) ", console), console[-3000:]
    ours = [line for line in proc.stdout.splitlines() if not line.startswith("{")]
    assert ours == [f"error: {_model_failure(ours[0])}"], ours
    _assert_task_failure_logged(log_file)
