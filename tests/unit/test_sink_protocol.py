"""The two-phase sink protocol's SaveMode decisions, on the local file sink (no Spark needed:
``prepare`` and ``publish`` run on the driver and touch only the file system)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_job.errors import UserError
from spark_job.scoring.row_errors import ErrorReport
from spark_job.sinks import Proceed, Skip, Staged
from spark_job.sinks.files import LocalFileSink
from spark_job.spec import FileFormat, GcsSink, SaveMode


def _sink(out: Path, mode: SaveMode, run_id: str = "r1") -> LocalFileSink:
    return LocalFileSink(GcsSink(format=FileFormat.JSON, uri=str(out), save_mode=mode), run_id)


def _stage(sink: LocalFileSink, names: tuple[str, ...] = ("part-a",)) -> Staged:
    """What executors leave in the run's staging directory."""
    sink.staging.mkdir(parents=True)
    for name in names:
        (sink.staging / name).write_text(f"{name}\n")
    return Staged(rows=len(names))


@pytest.mark.parametrize("mode", list(SaveMode))
def test_a_missing_output_proceeds_under_every_mode(tmp_path: Path, mode: SaveMode) -> None:
    sink = _sink(tmp_path / "new" / "out", mode)
    assert sink.prepare(None) == Proceed()  # type: ignore[arg-type]
    assert (tmp_path / "new").is_dir()  # the parent exists for the staging directory
    assert sink.publish(_stage(sink), None) == 1
    assert sorted(p.name for p in (tmp_path / "new" / "out").iterdir()) == ["part-a"]
    assert not sink.staging.exists()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (SaveMode.ERRORIFEXISTS, UserError),
        (SaveMode.ERROR, UserError),
        (SaveMode.IGNORE, Skip),
        (SaveMode.OVERWRITE, Proceed),
        (SaveMode.APPEND, Proceed),
    ],
)
def test_an_existing_output_is_decided_once_by_the_mode(
    tmp_path: Path, mode: SaveMode, expected: type
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-a").write_text("old\n")
    sink = _sink(out, mode)
    if expected is UserError:
        with pytest.raises(UserError, match=f"gcsSink.uri: output .* already exists and gcsSink"
                           f".save_mode is {mode.value}"):  # fmt: skip
            sink.prepare(None)  # type: ignore[arg-type]
        return
    decision = sink.prepare(None)  # type: ignore[arg-type]
    assert isinstance(decision, expected)
    if isinstance(decision, Skip):
        assert "IGNORE" in decision.reason
        return
    sink.publish(_stage(sink, ("part-a", "part-b")), None)
    files = {p.name: p.read_text() for p in out.iterdir()}
    if mode is SaveMode.OVERWRITE:
        assert files == {"part-a": "part-a\n", "part-b": "part-b\n"}
    else:  # APPEND: nothing of the old output replaced, the new names made unique
        assert files == {"part-a": "old\n", "r1-part-a": "part-a\n", "part-b": "part-b\n"}


@pytest.mark.parametrize("mode", [SaveMode.ERRORIFEXISTS, SaveMode.IGNORE])
def test_an_output_that_appears_while_the_job_runs_is_left_alone(
    tmp_path: Path, mode: SaveMode
) -> None:
    out = tmp_path / "out"
    sink = _sink(out, mode)
    assert sink.prepare(None) == Proceed()  # type: ignore[arg-type]
    staged = _stage(sink)
    out.mkdir()
    (out / "theirs").write_text("theirs\n")
    with pytest.raises(UserError, match="appeared while the job ran"):
        sink.publish(staged, None)
    sink.abort()
    assert [p.name for p in out.iterdir()] == ["theirs"]
    assert not sink.staging.exists()


def test_the_error_report_is_published_with_the_results(tmp_path: Path) -> None:
    sink = _sink(tmp_path / "out", SaveMode.ERRORIFEXISTS)
    sink.prepare(None)  # type: ignore[arg-type]
    report = ErrorReport(stats={"MODEL_ERROR": {"count": 1, "examples": []}}, rows_ok=1)
    sink.publish(_stage(sink), report)
    stats = (tmp_path / "out" / "prediction.errors_stats-00000-of-00001").read_text()
    assert '"error": "MODEL_ERROR", "count": 1' in stats


def test_abort_removes_staging_and_may_be_called_again(tmp_path: Path) -> None:
    sink = _sink(tmp_path / "out", SaveMode.OVERWRITE)
    sink.prepare(None)  # type: ignore[arg-type]
    _stage(sink)
    sink.abort()
    sink.abort()
    assert not sink.staging.exists() and not (tmp_path / "out").exists()
