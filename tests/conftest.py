"""Shared fixtures: one real SparkSession per test session (per xdist worker)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

#: The tests' JVMs compile with C1 only. A test's JVM lives seconds and handles a few rows:
#: C2's compilations of hot loops never pay back, and on two cores they take a third of a
#: CLI job's CPU (docs/testing.md). Semantics are the same; the product's JVMs keep the default.
TEST_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def _add_java_options(variable: str) -> None:
    """``TEST_JAVA_OPTIONS`` in ``variable`` (kept if already there), for every JVM that a
    test, a CLI subprocess or spark-submit starts from this process's environment."""
    current = os.environ.get(variable, "")
    if TEST_JAVA_OPTIONS not in current:
        os.environ[variable] = f"{current} {TEST_JAVA_OPTIONS}".strip()


for _variable in (
    "SPARK_SUBMIT_OPTS",  # a driver started by spark-submit (pyspark's gateway runs it too)
    "SPARK_LAUNCHER_OPTS",  # spark-class's launcher, which builds the driver's command
    "SPARK_DAEMON_JAVA_OPTS",  # a standalone cluster's master and worker
):
    _add_java_options(_variable)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: A worker's own temporary directory (see pytest_configure).
WORKER_TMP = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs two workers), each worker gets its own temporary
    directory for everything that defaults to one — job logs named by job and run id, Spark's
    scratch space, the zygote's socket — inherited by its CLI subprocesses and Spark workers:
    two workers running jobs of the same name never share a file."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        own = Path(tempfile.gettempdir()) / f"spark_job_tests_{os.getppid()}_{worker}"
        own.mkdir(parents=True, exist_ok=True)
        os.environ["TMPDIR"] = str(own)
        tempfile.tempdir = None  # recomputed from TMPDIR
        config.stash[WORKER_TMP] = own


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(WORKER_TMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="session")
def spark(emulators: object) -> Iterator[object]:
    """The session, built as ``--local`` builds it: with the jars of ``make setup`` and the
    emulators' endpoints handed to the JVM connectors (see ``spark_job/run/session.py``); two
    cores, and 4 attempts per task as on a cluster (``local[2,4]``)."""
    from spark_job.run.session import build_session

    session = build_session("spark_job-tests", local=True, master="local[2,4]")
    yield session
    session.stop()


EMULATOR_PROJECT = "test-project"


@pytest.fixture(scope="session")
def emulators() -> Iterator[object]:
    """One bqemulator + fake-gcs-server pair for the whole test session.

    Their endpoints are exported in ``os.environ`` (also inherited by CLI subprocesses and
    Spark's Python workers), as a user would export them to point the job at emulators.
    """
    from spark_job.dev.emulators import exported_emulators

    with exported_emulators(EMULATOR_PROJECT, "spark_job_test_emulators_") as running:
        yield running


@pytest.fixture
def cli_in_process(spark: object, capfd: pytest.CaptureFixture[str]) -> object:
    """The command line in this process, on the tests' session (tests/in_process.py)."""
    from tests.in_process import InProcessCli

    return InProcessCli(spark, capfd)
