"""The resume markers on a local staging folder, without Spark: what a rerun reuses, and why
not (see spark_job/sinks/markers.py)."""

from __future__ import annotations

from pathlib import Path

from spark_job.sinks.markers import (
    MANIFEST,
    RESUME_FOLDER,
    ResumeKey,
    StagingFolder,
    marker_name,
    open_attempt,
)

KEY = ResumeKey("inputs-1", "config-1", "2 file(s), 10 bytes", partitions=3)


def _staged(folder: StagingFolder, part: int, name: str, with_file: bool = True) -> None:
    if with_file:
        Path(folder.location, name).write_bytes(b"rows")
    folder.write(marker_name(part), {"name": name, "rows": 5, "part": part})


def test_a_first_attempt_writes_its_manifest_and_reuses_nothing(tmp_path: Path) -> None:
    folder = StagingFolder(str(tmp_path))
    assert open_attempt(folder, KEY) == ({}, "")
    assert folder.documents() == {MANIFEST: KEY.manifest()}


def test_a_rerun_reuses_only_committed_parts_that_are_there(tmp_path: Path) -> None:
    folder = StagingFolder(str(tmp_path))
    open_attempt(folder, KEY)
    _staged(folder, 0, "part-00000-0-a.parquet")
    _staged(folder, 1, "part-00001-0-b.parquet", with_file=False)  # its file is gone
    _staged(folder, 7, "part-00007-0-c.parquet")  # no such partition now
    (tmp_path / RESUME_FOLDER / ".part-00002.json.partial").write_text("{")  # cut short
    reused, note = open_attempt(folder, KEY)
    assert list(reused) == [0] and reused[0]["name"] == "part-00000-0-a.parquet"
    assert note == "resumed 1 of 3 partitions"


def test_a_changed_key_drops_the_markers_and_says_why(tmp_path: Path) -> None:
    folder = StagingFolder(str(tmp_path))
    open_attempt(folder, KEY)
    _staged(folder, 0, "part-00000-0-a.parquet")
    changed = ResumeKey("inputs-2", "config-1", "3 file(s), 20 bytes", partitions=3)
    reused, note = open_attempt(folder, changed)
    assert reused == {}
    assert note == (
        "resumed 0 of 3 partitions: the input changed since the first attempt"
        " (2 file(s), 10 bytes then, 3 file(s), 20 bytes now)"
    )
    assert folder.documents() == {MANIFEST: changed.manifest()}  # old markers gone
    assert open_attempt(folder, changed) == ({}, "resumed 0 of 3 partitions")


def test_a_refused_run_reuses_nothing_and_a_rerun_says_why(tmp_path: Path) -> None:
    folder = StagingFolder(str(tmp_path))
    refused = ResumeKey(partitions=2, refusal="bigquerySource: not stable")
    assert open_attempt(folder, refused) == ({}, "")
    assert open_attempt(folder, refused) == (
        {},
        "resumed 0 of 2 partitions: bigquerySource: not stable",
    )
    assert open_attempt(folder, KEY)[1] == (
        "resumed 0 of 3 partitions: the first attempt staged nothing reusable"
        " (bigquerySource: not stable)"
    )
    no_count = ResumeKey(refusal="the connector engine")
    assert open_attempt(folder, no_count)[1] == "nothing resumed: the connector engine"
