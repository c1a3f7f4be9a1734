"""The console's lines and the job's log file, without Spark."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from pathlib import Path

import pytest

from spark_job.errors import UserError
from spark_job.run.console import HUMAN, JSON, Console, human_state
from spark_job.run.job_log import JobLog, default_log_file
from spark_job.run.progress import describe, render_bar


def _console(format: str, quiet: bool = False) -> tuple[Console, io.StringIO, io.StringIO]:  # noqa: A002
    out, err = io.StringIO(), io.StringIO()
    return Console(format, quiet, out=out, err=err), out, err


def test_json_console_writes_one_object_per_line() -> None:
    console, out, err = _console(JSON)
    console.log_file = None
    console.state({"event": "state", "state": "PENDING", "job": "j", "run_id": "r1"})
    console.summary("instances: 3 succeeded", job="j", outcome="COMPLETED", rows_written=3)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["state", "summary"]
    assert records[1] == {"event": "summary", "summary": "instances: 3 succeeded", "job": "j",
                          "outcome": "COMPLETED", "rows_written": 3}  # fmt: skip
    console.error("job failed: boom", show_log=True)  # no log file: no path to show
    assert err.getvalue() == "error: job failed: boom\n"


def test_human_console_lines() -> None:
    console, out, err = _console(HUMAN)
    console.log_file = "/tmp/x.log"
    console.state({"event": "state", "state": "RUNNING", "job": "j", "spark_application_id": "a"})
    console.state({"event": "state", "state": "COMPLETED", "outcome": "COMPLETED"})
    console.summary("instances: 3 succeeded", outcome="COMPLETED")
    assert out.getvalue().splitlines() == [
        "RUNNING     Spark a; full log: /tmp/x.log",
        "COMPLETED",
        "instances: 3 succeeded",
    ]
    console.warning("careful")
    console.error("job failed: boom", show_log=True)
    assert err.getvalue().splitlines() == [
        "warning: careful", "error: job failed: boom", "full log: /tmp/x.log",
    ]  # fmt: skip


def test_human_state_lines() -> None:
    assert human_state({"state": "PENDING", "job": "j", "run_id": "r"}) == "PENDING     j, run r"
    assert human_state({"state": "FAILED", "error": "boom"}) == "FAILED"  # error: on stderr
    assert human_state({"state": "COMPLETED", "outcome": "SKIPPED"}) == "COMPLETED   (skipped)"
    assert human_state({"state": "TERMINATED", "error": "stopped by SIGTERM"}) == (
        "TERMINATED  stopped by SIGTERM"
    )


def test_quiet_console_prints_the_summary_and_errors_only() -> None:
    console, out, err = _console(JSON, quiet=True)
    console.state({"event": "state", "state": "PENDING", "job": "j"})
    console.warning("careful")
    console.summary("skipped: exists", outcome="SKIPPED")
    console.error("bad")
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["summary"]
    assert err.getvalue() == "error: bad\n"
    assert console.progress_interval(None) == 0 and console.progress_interval(3) == 0


def test_progress_interval_defaults() -> None:
    assert Console(HUMAN).progress_interval(None) == 0.5
    assert Console(JSON).progress_interval(None) == 10.0
    assert Console(JSON).progress_interval(2.0) == 2.0


def test_auto_format_is_json_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert Console.choose("auto").format == JSON
    assert Console.choose("human").format == HUMAN


def test_progress_record_counts_failed_instances() -> None:
    record = describe(rows=300, elapsed=3.0, total=1200, tasks=(1, 4), failed=7)
    assert record["failed"] == 7
    assert render_bar(record).endswith("tasks 1/4  7 failed  ETA 9s")
    assert "failed" not in describe(rows=1, elapsed=1.0, total=None, tasks=(0, 1))


def test_default_log_file_name() -> None:
    path = default_log_file("iris job/../x", "run-1")
    assert path.name == "spark_job-iris_job_.._x-run-1.log" and path.parent.is_absolute()


def test_job_log_takes_standard_error_and_gives_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While open, whatever writes to file descriptor 2 (a library, a child JVM) writes to the
    log file; the console's lines still reach the original standard error."""
    monkeypatch.delenv("SPARK_JOB_DEBUG", raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    original = tmp_path / "stderr.txt"
    saved = os.dup(2)
    with original.open("w") as stream:
        os.dup2(stream.fileno(), 2)
    try:
        console = Console(JSON, out=io.StringIO())
        job_log = JobLog(tmp_path / "logs" / "job.log", console, "INFO").open()
        os.write(2, b"from a library\n")
        logging.getLogger("spark_job.test").info("an info line")
        logging.getLogger("spark_job.test").warning("a warning")
        console.error("job failed: boom", show_log=True)
        job_log.close()
        os.write(2, b"after\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logged = (tmp_path / "logs" / "job.log").read_text()
    assert "from a library" in logged and "INFO spark_job.test: an info line" in logged
    assert "WARNING spark_job.test: a warning" in logged and "error: job failed: boom" in logged
    assert original.read_text().splitlines() == [
        "warning: a warning", "error: job failed: boom", f"full log: {tmp_path}/logs/job.log",
        "after",
    ]  # fmt: skip
    assert console.err is sys.stderr and console.log_file is None


def test_an_empty_job_log_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_JOB_DEBUG", "1")  # nothing redirected
    job_log = JobLog(tmp_path / "job.log", Console(JSON), "INFO").open()
    job_log.close()
    assert not (tmp_path / "job.log").exists()


def test_a_log_file_that_cannot_be_written_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="--log-file: cannot write .*file/job.log"):
        JobLog(tmp_path / "file" / "job.log", Console(JSON), "INFO").open()
