"""The fault-injection suite: every case, for each sink (local files, gs:// files on
fake-gcs-server, BigQuery on bqemulator), ends with the output absent (and no staging left) or
complete with every input row exactly once (:func:`tests.fault_cases.check_outcome`).

In this process (the session's ``local[2,4]`` SparkSession): a Python worker killed mid-task,
two jobs writing the same output at once, a local publish killed between its renames. The CLI
in a process of its own (slow): the driver killed with SIGKILL mid-stage and while publishing
(each rerun, the job's own business, runs the CLI in this process), SIGTERM while staging and
while publishing, transient GCS and BigQuery errors and dropped connections through the fault
proxies, BigQuery unreachable until the retry deadline. The figures go to
``build/fault-tally.json`` (the README's fault table).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spark_job.run.runner import LOST_REPORT_NOTE, JobResult, run_job
from spark_job.spec import parse_spec_text
from tests.fault_cases import (
    ROWS,
    SINKS,
    TALLY,
    TALLY_PATH,
    check_outcome,
    cli,
    cli_args,
    events,
    new_case,
    save_fault_model,
    summary_of,
    write_inputs,
)
from tests.fault_proxy import Fault, HttpFaultProxy


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    yield
    TALLY.write(TALLY_PATH)
    for fault, row in sorted(TALLY.rows.items()):
        print(f"fault tally: {fault}: {row}")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("faults") / "in")


# --------------------------------------------------------------------------- in this process


@pytest.mark.parametrize("kind", SINKS)
@pytest.mark.spark35
def test_a_python_worker_killed_mid_task(
    spark: Any, emulators: Any, inputs: Path, tmp_path: Path, kind: str
) -> None:
    gate = tmp_path / "kill-once"
    gate.touch()
    model = save_fault_model(tmp_path / "model", "kill_worker", gate=str(gate))
    case = new_case(kind, tmp_path)
    result = run_job(spark, parse_spec_text(case.spec_text(str(inputs), model)), "faults", "w1")
    assert not gate.exists(), "no worker was killed"
    assert (result.rows_predicted, result.rows_written) == (ROWS, ROWS)
    check_outcome(case, "Python worker killed mid-task", 1, expect="complete")


@pytest.mark.parametrize("kind", SINKS)
def test_two_jobs_writing_the_same_output_one_wins_whole(
    spark: Any, emulators: Any, inputs: Path, tmp_path: Path, kind: str
) -> None:
    """Two runs (predictions ``x`` and ``-x``) into one new output at the same time, under the
    default ERRORIFEXISTS: one publishes, the other fails, never a mix of both."""
    case = new_case(kind, tmp_path)
    scales = (1.0, -1.0)
    specs = [
        parse_spec_text(
            case.spec_text(str(inputs), save_fault_model(tmp_path / f"m{i}", "none", scale=s))
        )
        for i, s in enumerate(scales)
    ]
    outcomes: list[Any] = [None, None]

    def run(index: int) -> None:
        try:
            outcomes[index] = run_job(spark, specs[index], "faults", f"twin{index}")
        except BaseException as error:  # the loser's failure, whatever it is
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    winners = [i for i, o in enumerate(outcomes) if isinstance(o, JobResult)]
    assert len(winners) == 1, outcomes
    check_outcome(case, "two jobs writing one output", 1, expect="complete")
    rows = case.output_rows()
    assert rows is not None
    assert {p == i * scales[winners[0]] for i, p in rows} == {True}  # the winner's, whole


def test_a_gcs_publish_waits_for_no_one_and_mixes_with_no_one(
    spark: Any, emulators: Any, inputs: Path, tmp_path: Path
) -> None:
    """Another run holds the folder's publishing lock (it is copying its results in): this run
    publishes nothing, says who holds it, and removes its staging."""
    from spark_job.storage import gcs

    case = new_case("gcs", tmp_path)
    lock = gcs.GcsPath(case.bucket, f".{case.name}.publishing")
    gcs.write_bytes(gcs.client(), lock, b"other-run")
    spec = parse_spec_text(case.spec_text(str(inputs), save_fault_model(tmp_path / "m", "none")))
    with pytest.raises(RuntimeError, match=r"gcsSink.uri: run 'other-run' is publishing into"):
        run_job(spark, spec, "faults", "l1")
    gcs.delete(gcs.client(), lock)  # the other run ends
    check_outcome(case, "two jobs writing one output", 1, expect="absent")


class _Killed(BaseException):
    """The driver killed: nothing of it runs after (no abort, no cleanup)."""


def _killed_after(renames: int) -> type:
    """A local file sink whose driver dies after ``renames`` renames of its publish."""
    from spark_job.sinks.files import LocalFileSink

    class KilledMidPublish(LocalFileSink):
        done = 0

        def _rename(self, moved: Path, destination: Path) -> None:
            if self.done == renames:
                raise _Killed()
            super()._rename(moved, destination)
            self.done += 1

        def abort(self) -> None:  # a killed driver cleans nothing
            pass

    return KilledMidPublish


@pytest.mark.parametrize("save_mode", ["OVERWRITE", "APPEND"])
def test_a_local_publish_killed_between_its_renames_is_completed_by_the_rerun(
    spark: Any, emulators: Any, inputs: Path, tmp_path: Path, save_mode: str
) -> None:
    """Into a new local output the publish is one rename (atomic). Over an existing one it is
    several: OVERWRITE renames the old output away, then the staging folder in (killed in
    between: no output at all); APPEND renames each file (killed after the first: the output
    in part). The rerun with the same run id completes the planned renames: every row once,
    the old output, staging and plan gone. (The kill is the sink's rename raising an
    exception no one catches, its abort doing nothing: no moment for a real SIGKILL.)"""
    case = new_case("local", tmp_path, save_mode=save_mode)
    model = save_fault_model(tmp_path / "model", "none")
    spec = parse_spec_text(case.spec_text(str(inputs), model))
    case.local_output.mkdir()
    if save_mode == "OVERWRITE":  # an old output of other rows, replaced
        run_job(spark, parse_spec_text(case.spec_text(str(inputs), model)), "faults", "old")
    else:  # a folder with a file of the user's, kept
        (case.local_output / "_README").write_text("predictions\n")
    killed = _killed_after(1)(spec.sink, "kl1")
    with pytest.raises(_Killed):
        run_job(spark, spec, "faults", "kl1", sink=killed)
    ids = case.output_ids()
    if save_mode == "OVERWRITE":
        assert ids is None  # the old output renamed away, the new one not yet in
    else:
        assert ids is not None and 0 < len(ids) < ROWS
    assert case.staging_left()

    result = run_job(spark, spec, "faults", "kl1")
    assert result.status == "COMPLETED" and result.rows_written == ROWS
    assert "completed the interrupted publish" in result.summary()
    assert result.summary().endswith(LOST_REPORT_NOTE)  # the report was on (a file sink)
    check_outcome(case, "driver killed between local renames, rerun", 1, expect="complete")
    if save_mode == "APPEND":
        assert (case.local_output / "_README").read_text() == "predictions\n"


# --------------------------------------------------------------------------- the CLI


def _wait_for(predicate: Any, proc: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the job ended before {what}: {out[-2000:]} {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _staged_markers(case: Any, run_id: str, job: str = "faults") -> int:
    """The parts committed under the run's staging location so far."""
    from spark_job.sinks.markers import MANIFEST, StagingFolder

    if case.kind == "local":
        location = str(case.root / f".{case.name}.staging-{run_id}")
    elif case.kind == "gcs":
        location = f"gs://{case.bucket}/.{case.name}.staging-{run_id}"
    else:
        location = f"gs://{case.bucket}/{job}-{run_id}"
    try:
        documents = StagingFolder(location).documents()
    except Exception:  # the folder is being written
        return 0
    return len([name for name in documents if name != MANIFEST])


@pytest.mark.slow
@pytest.mark.parametrize("kind", SINKS)
def test_the_driver_killed_mid_stage_and_rerun_resumes(
    emulators: Any, inputs: Path, tmp_path: Path, kind: str, cli_in_process: Any
) -> None:
    """SIGKILL: nothing of the driver runs, its staging stays; the rerun with the same run id
    (in this process: what it finds is the killed run's) reuses partition 0, scores the rest,
    publishes once and removes the staging."""
    gate = tmp_path / "hold"
    gate.touch()
    model = save_fault_model(tmp_path / "model", "hold_odd", gate=str(gate))
    case = new_case(kind, tmp_path)
    spec = case.write_spec(str(inputs), model)
    proc = cli(spec, "k1")
    _wait_for(lambda: _staged_markers(case, "k1") >= 1, proc, 120, "partition 0 was staged")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert case.output_ids() is None and case.staging_left()  # killed: staging stays
    gate.unlink()

    rerun = cli_in_process(*cli_args(spec, "k1"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = summary_of(rerun.stdout)
    assert summary["partitions_reused"] >= 1
    total = summary["partitions_total"]
    assert f"; resumed {summary['partitions_reused']} of {total} partitions" in summary["summary"]
    check_outcome(case, "driver SIGKILL mid-stage, rerun", 1, expect="complete")


@pytest.mark.slow
@pytest.mark.parametrize("kind", SINKS)
def test_sigterm_while_staging_leaves_nothing(
    emulators: Any, inputs: Path, tmp_path: Path, kind: str
) -> None:
    gate = tmp_path / "hold"
    gate.touch()
    model = save_fault_model(tmp_path / "model", "hold_odd", gate=str(gate))
    case = new_case(kind, tmp_path)
    proc = cli(case.write_spec(str(inputs), model), "t1")
    _wait_for(lambda: _staged_markers(case, "t1") >= 1, proc, 120, "partition 0 was staged")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-3000:]
    states = [e["state"] for e in events(out) if e.get("event") == "state"]
    assert states[-2:] == ["TERMINATING", "TERMINATED"]
    check_outcome(case, "SIGTERM while staging", 1, expect="absent")


@contextlib.contextmanager
def _proxies(kind: str, gcs_faults: list[Fault], bq_faults: list[Fault]) -> Iterator[Any]:
    """A GCS proxy (and for the BigQuery sink a BigQuery REST one) with these faults."""
    storage = HttpFaultProxy(os.environ["STORAGE_EMULATOR_HOST"].removeprefix("http://"),
                             faults=gcs_faults).start()  # fmt: skip
    rest = HttpFaultProxy(os.environ["BIGQUERY_EMULATOR_HOST"], faults=bq_faults).start()
    try:
        yield (
            storage,
            rest,
            {
                "STORAGE_EMULATOR_HOST": f"http://{storage.address}",
                "BIGQUERY_EMULATOR_HOST": rest.address,
            },
        )
    finally:
        storage.stop()
        rest.stop()


def _gcs_inputs(inputs: Path) -> str:
    """The input files in a bucket of their own."""
    from tests.gcs_helpers import new_bucket, upload_dir

    return upload_dir(inputs, new_bucket("in"), "in") + "/*"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gcs", "bigquery"])
def test_transient_errors_and_dropped_connections(
    emulators: Any, inputs: Path, tmp_path: Path, kind: str
) -> None:
    """429/500/503 bursts and dropped connections from fake-gcs-server while the input is
    read (gs://) and the results are staged (and, for gs:// files, published), and 503, 502,
    rate limits and dropped connections from bqemulator around the load job — a dataset
    lookup dropped, the table's create and the load job's insert carried out but their
    answers lost (the retry then meets 409: the sink's own table, the job of its own id), a
    job poll dropped: the job completes with every row once. The local sink reads and
    writes no service but the input, whose faults both cases read."""
    case = new_case(kind, tmp_path)
    uri = _gcs_inputs(inputs)
    read = [  # the gcs-connector reading the input (Spark's Parquet reader)
        Fault("GET", "in%2Fpart-1.parquet", 503, times=2),
        Fault("GET", "in%2Fpart-2.parquet", 0, drop=True),
        Fault("GET", "in%2Fpart-3.parquet", 429, reason="rateLimitExceeded"),
    ]
    staging = [  # tasks uploading parts and markers
        Fault("POST", "/upload/", 503, times=2),
        Fault("POST", "/upload/", 0, drop=True, after=1),
        Fault("POST", "/upload/", 500, after=3),
    ]
    publish = [Fault("POST", "/copyTo/", 500, after=1), Fault("POST", "/copyTo/", 0, drop=True)]
    limited = Fault("POST", "/jobs", 403, "Exceeded rate limits", "rateLimitExceeded")
    load = [
        Fault("GET", "/datasets/", 0, drop=True),
        Fault("POST", "/tables", 0, lose_answer=True),
        Fault("POST", "/jobs", 503),
        limited,
        Fault("POST", "/jobs", 0, lose_answer=True),
        Fault("GET", "/jobs/", 500),
        Fault("GET", "/jobs/", 502),
        Fault("GET", "/jobs/", 0, drop=True),
    ]
    gcs_faults = read + staging + (publish if kind == "gcs" else [])
    bq_faults = load if kind == "bigquery" else []
    with _proxies(kind, gcs_faults, bq_faults) as (storage, rest, env):
        proc = cli(case.write_spec(uri, _plain_model(tmp_path)), "e1", env)
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:] + out[-2000:]
        fired = [(f.method, f.path_contains, f.status) for f in gcs_faults + bq_faults
                 if f.seen < f.times]  # fmt: skip
        assert not fired, f"faults never injected: {fired}"
        injected = storage.injected + rest.injected
    check_outcome(case, "transient errors and dropped connections", injected, "complete")


def _plain_model(tmp_path: Path) -> Path:
    return save_fault_model(tmp_path / "model", "none")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gcs", "bigquery"])
def test_sigterm_while_publishing(emulators: Any, inputs: Path, tmp_path: Path, kind: str) -> None:
    """SIGTERM once the publish has begun (the first copy, or the load job's insert, held by
    the proxy for 4 s): the publish completes whole, or nothing is published. (Publishing
    local files is one rename: there is no moment to signal.)"""
    case = new_case(kind, tmp_path)
    if kind == "gcs":
        held = Fault("POST", "/copyTo/", 0, delay=4.0)
    else:
        held = Fault("POST", "/jobs", 0, delay=4.0)
    gcs_faults = [held] if kind == "gcs" else []
    bq_faults = [held] if kind == "bigquery" else []
    with _proxies(kind, gcs_faults, bq_faults) as (_, _, env):
        proc = cli(case.write_spec(str(inputs), _plain_model(tmp_path)), "p1", env)
        _wait_for(lambda: held.seen > 0, proc, 120, "the publish began")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, 143), err[-3000:]
        states = [e["state"] for e in events(out) if e.get("event") == "state"]
        assert "TERMINATING" in states
    outcome = check_outcome(case, "SIGTERM while publishing", 1)
    assert outcome == ("complete" if proc.returncode == 0 else "absent")


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gcs", "bigquery"])
def test_the_driver_killed_while_publishing_and_rerun_completes(
    emulators: Any, inputs: Path, tmp_path: Path, kind: str, cli_in_process: Any
) -> None:
    """SIGKILL inside the publish: for gs:// files once the second copy is under way (the
    proxy drops it and its retries: one object published, the others not, so the output
    exists in part), for BigQuery while the load job's insert is held (it reaches
    bqemulator after the kill). A rerun with another run id fails naming the lock
    (gs://); the rerun with the same run id completes the publish (gs://: the plan in the
    lock; BigQuery: the load job of the same id had succeeded) without predicting again:
    every row exactly once, no staging, no lock. (Publishing local files is one rename.)"""
    from spark_job.storage import gcs

    case = new_case(kind, tmp_path)
    spec = case.write_spec(str(inputs), _plain_model(tmp_path))
    if kind == "gcs":
        held = Fault("POST", "/copyTo/", 0, drop=True, after=1, times=1000)
    else:
        held = Fault("POST", "/jobs", 0, delay=4.0)
    gcs_faults = [held] if kind == "gcs" else []
    bq_faults = [held] if kind == "bigquery" else []
    lock = gcs.GcsPath(case.bucket, f".{case.name}.publishing")
    with _proxies(kind, gcs_faults, bq_faults) as (storage, rest, env):
        proc = cli(spec, "kp1", env)
        _wait_for(lambda: held.seen > 0, proc, 120, "the publish began")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while kind == "bigquery" and not any(  # the held insert reaches bqemulator
            c[0] == "POST" and "/jobs" in c[1] for c in rest.log
        ):
            assert time.monotonic() < deadline, "the held insert was never forwarded"
            time.sleep(0.2)
    assert case.staging_left(), "killed: its staging stays"
    if kind == "gcs":
        ids = case.output_ids()
        assert ids is not None and 0 < len(ids) < ROWS, "the output exists in part"
        assert gcs.exists(gcs.client(), lock)
        other = cli_in_process(*cli_args(spec, "kp2"))
        assert other.returncode == 1, other.stderr[-3000:]
        (line,) = _error_lines(other.stderr)
        assert "run 'kp1' is publishing into" in line and lock.uri in line

    rerun = cli_in_process(*cli_args(spec, "kp1"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = summary_of(rerun.stdout)
    assert summary["outcome"] == "COMPLETED" and summary["rows_written"] == ROWS
    expected = "completed the interrupted publish" if kind == "gcs" else "already holds"
    assert expected in summary["summary"]
    if kind == "gcs":  # a file sink writes a report by default; a BigQuery sink does not
        assert summary["summary"].endswith(LOST_REPORT_NOTE)
        assert not gcs.exists(gcs.client(), lock)
    else:
        assert "report" not in summary["summary"]
    check_outcome(case, "driver SIGKILL while publishing, rerun", 1, expect="complete")


@pytest.mark.slow
def test_bigquery_unreachable_fails_naming_the_endpoint(
    emulators: Any, inputs: Path, tmp_path: Path
) -> None:
    """Every call to BigQuery's REST API dropped: retried with backoff until the deadline
    (``SPARK_JOB_RETRY_SECONDS``, 4 s here), then exit 1 with one line naming the service and
    its endpoint; nothing published, nothing staged."""
    case = new_case("bigquery", tmp_path)
    dropped = Fault("", "/bigquery/", 0, drop=True, times=10**6)
    with _proxies("bigquery", [], [dropped]) as (_, rest, env):
        env = {**env, "SPARK_JOB_RETRY_SECONDS": "4"}
        proc = cli(case.write_spec(str(inputs), _plain_model(tmp_path)), "u1", env)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 1, err[-3000:]
        assert dropped.seen >= 3, "the call was not retried"
        injected = rest.injected
    (line,) = _error_lines(err)
    assert line.startswith(f"error: job failed: BigQuery at http://{rest.address} cannot be")
    assert "Traceback" not in err
    check_outcome(case, "BigQuery connections dropped until the deadline", injected, "absent")
