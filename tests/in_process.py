"""The command line in the test process: ``spark_job.main.main`` on the tests' warm session.

For cases whose subject is the job — its results, report, checks, exit code and ``error:``
lines — not the process: a subprocess costs a JVM start, the job's imports and a
SparkSession (7–20 s of two busy cores, docs/testing.md). What a subprocess alone shows stays
in one: signals, the console of a terminal, Spark's start-up and logs kept off the console,
what happens before Spark starts.

``main`` runs as ``python -m spark_job`` runs it, but for the session: ``build_session``
hands back the tests' session, whose ``stop`` does nothing meanwhile. The SIGTERM handler
and the console it installs are put back afterwards.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest

import spark_job.main
from spark_job.run import console, session


class InProcessCli:
    """``cli(*argv)`` runs ``main(argv)``; a :class:`subprocess.CompletedProcess` of what it
    printed and returned, like ``subprocess.run(..., capture_output=True, text=True)``."""

    def __init__(self, spark: Any, capfd: pytest.CaptureFixture[str]) -> None:
        self.spark = spark
        self.capfd = capfd

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        self.capfd.readouterr()  # what the test printed before is not the command's
        terminate = signal.getsignal(signal.SIGTERM)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(session, "build_session", lambda *args, **kwargs: self.spark)
            patch.setattr(self.spark, "stop", lambda: None)
            patch.setattr(console, "_CONSOLE", console.current())
            try:
                code = spark_job.main.main(list(argv))
            finally:
                signal.signal(signal.SIGTERM, terminate)
        out, err = self.capfd.readouterr()
        return subprocess.CompletedProcess(["spark_job", *argv], code, out, err)
