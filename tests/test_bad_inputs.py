"""Bad input, widely: every kind of mistake in ``tests/bad_input_cases.py`` ends with its exit
code (2 for the user's mistake, 1 for a service that is down or a model that raises), one
``error: …`` message naming the field, column, file or line, no traceback, and nothing written
(no output, no staging).

The CLI runs in this process (``spark_job.main.main``, tests/in_process.py), as ``python -m
spark_job`` would: cases found before Spark starts must not start it; the others run on the
test session's SparkSession. A few cases run as real subprocesses, to see
the whole console of a process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.bad_input_cases import CASES, KINDS, Case, Prepared, prepare
from tests.bad_input_data import Workspace
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.in_process import InProcessCli, run_main

#: What a console must never show: a Python traceback, Java stack frames, Py4J's wrapper.
TRACES = ("Traceback", "\tat org.", "at org.apache", "Py4JJavaError", "py4j.protocol")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture(scope="module")
def bigquery(emulators: object) -> dict[str, str]:
    """The emulator's project, a staging bucket and the source table ``bad_inputs.flowers``."""
    from google.cloud.bigquery import SchemaField

    from tests import gcs_helpers
    from tests.bq_helpers import bq_client, create_dataset, create_table

    create_dataset("bad_inputs")
    table = f"{EMULATOR_PROJECT}.bad_inputs.flowers"
    create_table(table, [SchemaField("id", "INTEGER"), SchemaField("x", "FLOAT")])
    errors = bq_client().insert_rows_json(table, [{"id": i, "x": i / 2} for i in range(3)])
    assert not errors, errors
    return {"project": EMULATOR_PROJECT, "bucket": gcs_helpers.new_bucket("bad-inputs")}


def _values(case: Case, request: pytest.FixtureRequest) -> dict[str, str]:
    if case.bigquery:
        return dict(request.getfixturevalue("bigquery"))
    return {"project": EMULATOR_PROJECT, "bucket": "no-bucket"}


def _environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def run_in_process(
    argv: list[str], capfd: pytest.CaptureFixture[str], spark: Any = None
) -> Outcome:
    """``python -m spark_job ARGV`` in this process (tests/in_process.py), on ``spark`` when
    given."""
    proc = InProcessCli(spark, capfd)(*argv) if spark is not None else run_main(argv, capfd)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def assert_one_message(outcome: Outcome, case: Case, prepared: Prepared) -> None:
    console = outcome.out + outcome.err
    for trace in TRACES:
        assert trace not in console, console[-3000:]
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), outcome.err[-3000:]
    if outcome.code == 1:  # a runtime failure says where the full log is
        assert lines[-1] == f"full log: {prepared.log_file}", lines
        lines = lines[:-1]
    # One message: its first line, maybe followed by its own indented detail lines.
    assert all(line.startswith("  ") for line in lines[1:]), lines
    assert outcome.code == case.exit_code, (outcome.code, outcome.err[-3000:])
    message = "\n".join(lines).removeprefix("error: ")
    assert re.search(case.message, message), message


def assert_nothing_written(case: Case, prepared: Prepared, values: dict[str, str]) -> None:
    sink = prepared.sink_dir
    assert not sink.exists() or not any(sink.iterdir()), sorted(sink.iterdir())
    if case.bigquery and "bigquerySink" in (case.spec or ""):
        from tests import gcs_helpers
        from tests.bq_helpers import table_exists

        assert not table_exists(f"{values['project']}.bad_inputs.{case.id}_out")
        assert gcs_helpers.listing(values["bucket"]) == []


def _cases(spark: bool) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES if c.spark is spark]


def test_the_table_covers_every_kind() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 40
    assert {case.kind for case in CASES} == set(KINDS)
    assert f"the {len(CASES)} kinds tested" in (REPO_ROOT / "README.md").read_text()


def run_process(prepared: Prepared) -> Outcome:
    """``python -m spark_job`` in a process of its own, with the case's environment."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_JOB_DEBUG", None)
    for name, value in prepared.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", *prepared.argv],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=env,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("case", _cases(spark=False))
def test_found_before_spark_starts(
    case: Case,
    workspace: Workspace,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    values = _values(case, request)
    prepared = prepare(case, workspace, values)
    if case.own_process:
        outcome = run_process(prepared)
    else:

        def no_spark(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"{case.id}: a SparkSession was started")

        monkeypatch.setattr("spark_job.run.session.build_session", no_spark)
        with monkeypatch.context() as patched:
            _environment(patched, prepared.env)
            outcome = run_in_process(prepared.argv, capfd)
    assert '"RUNNING"' not in outcome.out, outcome.out
    assert_one_message(outcome, case, prepared)
    assert_nothing_written(case, prepared, values)


@pytest.mark.parametrize("case", _cases(spark=True))
def test_found_by_the_run(
    case: Case,
    workspace: Workspace,
    spark: Any,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    values = _values(case, request)
    prepared = prepare(case, workspace, values)
    started = time.monotonic()
    if case.own_process:
        outcome = run_process(prepared)
    else:
        with monkeypatch.context() as patched:
            _environment(patched, prepared.env)
            outcome = run_in_process(prepared.argv, capfd, spark)
    assert time.monotonic() - started < 60, "a bad input must fail fast"
    assert_one_message(outcome, case, prepared)
    assert_nothing_written(case, prepared, values)


#: Cases run end to end in a process of their own, to see its whole console (the JVM's
#: output included): one found before Spark starts, one in a task.
SUBPROCESS_CASES = ("spec_not_utf8", "nested_value")


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_a_process_console_shows_one_message(
    case_id: str, workspace: Workspace, request: pytest.FixtureRequest
) -> None:
    (case,) = [c for c in CASES if c.id == case_id]
    if case.spark:
        request.getfixturevalue("emulators")  # the same environment as the in-process runs
    values = _values(case, request)
    prepared = prepare(case, workspace, values)
    assert_one_message(run_process(prepared), case, prepared)
    assert_nothing_written(case, prepared, values)
