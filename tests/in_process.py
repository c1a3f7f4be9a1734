"""The command line in the test process: ``spark_job.main.main`` as ``python -m spark_job``
runs it, optionally on the tests' warm SparkSession.

For cases whose subject is the job — its results, report, checks, exit code and ``error:``
lines — not the process: a subprocess costs a JVM start, the job's imports and a
SparkSession (7–20 s of two busy cores, docs/testing.md). What only a process shows stays in
one: signals, the console of a terminal, Spark's own start-up output kept off the console.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest

from spark_job.main import main
from spark_job.run import console, session


def run_main(
    argv: list[str], capfd: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``main(argv)``; what it printed and returned, as ``subprocess.run(…, capture_output=True,
    text=True)`` gives it. Standard error is the process's (the job points descriptor 2 at its
    log file); the SIGTERM handler and the console the job installs are put back after."""
    capfd.readouterr()  # what the test printed before is not the command's
    sigterm = signal.getsignal(signal.SIGTERM)
    shown = console.current()
    stderr = sys.stderr
    sys.stderr = sys.__stderr__
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own exit (--help)
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.stderr.flush()
        sys.stderr = stderr
        signal.signal(signal.SIGTERM, sigterm)
        console.configure(shown)
    captured = capfd.readouterr()
    return subprocess.CompletedProcess(["spark_job", *argv], code, captured.out, captured.err)


class InProcessCli:
    """``cli(*argv)``: :func:`run_main` on the tests' session — the job's ``build_session``
    hands it back (no JVM, no zygote started) and its ``spark.stop()`` leaves it running."""

    def __init__(self, spark: Any, capfd: pytest.CaptureFixture[str]) -> None:
        self.spark = spark
        self.capfd = capfd

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(session, "build_session", lambda *args, **kwargs: self.spark)
            patch.setattr(self.spark, "stop", lambda: None)
            return run_main(list(argv), self.capfd)
