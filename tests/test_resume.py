"""Resumable runs: a rerun with the same run id reuses the parts an earlier attempt staged.

The earlier attempt here is a real run of the job whose driver stops after staging, before
publishing, and runs no cleanup (what SIGKILL leaves; the real SIGKILL of a CLI driver is in
tests/test_faults.py); deleting some of its markers makes it a driver that died mid-stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from spark_job.run.resume import BIGQUERY_SOURCE, RECORDING, resume_key
from spark_job.run.runner import run_job
from spark_job.run.status import status_document
from spark_job.sinks import open_sink
from spark_job.sinks.markers import MANIFEST, RESUME_FOLDER, ResumeKey, StagingFolder
from spark_job.spec import parse_spec_text
from tests.fault_cases import FILES, ROWS, SINKS, check_outcome, new_case, write_inputs
from tests.models import save_probe_model


class DriverKilled(BaseException):  # noqa: N818 - stands for the process ending
    """The driver ends here: nothing after it runs, no cleanup either."""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_probe_model(tmp_path_factory.mktemp("resume") / "model", "sum")


def _staging(sink: Any) -> str:
    staging = sink.staging
    return staging.uri if hasattr(staging, "uri") else str(staging)


def _killed_after_staging(spark: Any, spec: Any, run_id: str) -> str:
    """An attempt of ``run_id`` that staged everything, then died before publishing: its
    sink's publish and abort never run. Returns the staging location it left."""
    sink = open_sink(spec, "resume", run_id)

    def die(*_: Any) -> None:
        raise DriverKilled

    sink.commit = die  # type: ignore[method-assign]
    sink.abort = lambda: None  # type: ignore[method-assign]
    with pytest.raises(DriverKilled):
        run_job(spark, spec, "resume", run_id, sink=sink)
    return _staging(sink)


def _markers(location: str) -> dict[str, dict[str, Any]]:
    documents = StagingFolder(location).documents()
    documents.pop(MANIFEST)
    return documents


def _partitions(location: str) -> int:
    return int(StagingFolder(location).documents()[MANIFEST]["partitions"])


def _forget_parts(location: str, parts: list[int]) -> None:
    """Make the attempt one that died before these partitions were committed."""
    for name, marker in _markers(location).items():
        if marker["part"] in parts:
            _delete(f"{location}/{RESUME_FOLDER}/{name}")
            _delete(f"{location}/{marker['name']}")


def _delete(uri: str) -> None:
    from spark_job.storage import gcs

    if gcs.is_gcs(uri):
        gcs.delete(gcs.client(), gcs.parse(uri))
    else:
        Path(uri).unlink()


#: On the 3.5 lane too, but for BigQuery: there ``auto`` picks the connector, whose scored rows
#: live in its executors (a rerun reuses nothing: ``test_inputs_that_are_never_resumed``).
ON_BOTH_LINES = [
    pytest.param(kind, marks=[pytest.mark.spark35] if kind != "bigquery" else []) for kind in SINKS
]


@pytest.mark.parametrize("kind", ON_BOTH_LINES)
def test_a_rerun_scores_only_the_missing_partitions(
    spark: Any, emulators: Any, model: Path, tmp_path: Path, kind: str
) -> None:
    case = new_case(kind, tmp_path)
    inputs = write_inputs(tmp_path / "in")
    spec = parse_spec_text(case.spec_text(str(inputs), model))
    location = _killed_after_staging(spark, spec, "r1")
    first = _markers(location)
    count = _partitions(location)
    assert count >= 2 and sorted(m["part"] for m in first.values()) == list(range(count))
    _forget_parts(location, list(range(1, count, 2)))  # it died before the odd ones
    kept = {m["name"] for m in first.values() if m["part"] % 2 == 0}
    note = f"resumed {len(kept)} of {count} partitions"

    result = run_job(spark, spec, "resume", "r1")

    assert (result.partitions_reused, result.partitions_total) == (len(kept), count)
    assert f" -> {result.destination}; {note}" in result.summary()
    assert (result.rows_predicted, result.rows_written) == (ROWS, ROWS)
    check_outcome(case, "resume", 0, expect="complete")  # every row once, staging gone
    if kind == "local":  # the reused parts are the very files the first attempt staged
        assert kept <= {p.name for p in case.local_output.iterdir()}
    status = status_document("COMPLETED", "resume", "r1", result=result)
    assert (status["partitions_reused"], status["resume"]) == (len(kept), note)


def test_a_changed_input_reuses_nothing_and_says_why(
    spark: Any, emulators: Any, model: Path, tmp_path: Path
) -> None:
    case = new_case("local", tmp_path)
    inputs = write_inputs(tmp_path / "in")
    spec = parse_spec_text(case.spec_text(str(inputs), model))
    count = _partitions(_killed_after_staging(spark, spec, "r2"))
    rewritten = inputs / "part-0.parquet"  # the same bytes, written again a second later
    stat = rewritten.stat()
    os.utime(rewritten, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    result = run_job(spark, spec, "resume", "r2")

    assert result.partitions_reused == 0
    size = sum(p.stat().st_size for p in inputs.iterdir())
    assert result.resume_note == (
        f"resumed 0 of {count} partitions: the input changed since the first attempt"
        f" ({FILES} file(s), {size:,} bytes then, {FILES} file(s), {size:,} bytes now)"
    )
    check_outcome(case, "resume", 0, expect="complete")


def test_a_first_attempt_says_nothing_and_a_new_partitioning_reuses_nothing(
    spark: Any, emulators: Any, model: Path, tmp_path: Path
) -> None:
    case = new_case("gcs", tmp_path)
    inputs = write_inputs(tmp_path / "in")
    spec = parse_spec_text(case.spec_text(str(inputs), model))
    location = _killed_after_staging(spark, spec, "r3")
    folder = StagingFolder(location)
    manifest = folder.documents()[MANIFEST]
    count = manifest["partitions"]
    folder.write(MANIFEST, {**manifest, "partitions": count + 1})  # as if split otherwise

    result = run_job(spark, spec, "resume", "r3")

    assert result.resume_note == (
        f"resumed 0 of {count} partitions: the input is split into {count} partitions now,"
        f" {count + 1} then"
    )
    check_outcome(case, "resume", 0, expect="complete")
    fresh = run_job(
        spark, parse_spec_text(new_case("local", tmp_path).spec_text(str(inputs), model)),
        "resume", "r4",
    )  # fmt: skip
    assert (fresh.resume_note, fresh.partitions_reused) == ("", 0)
    assert "resumed" not in fresh.summary()


def test_inputs_that_are_never_resumed(tmp_path: Path, model: Path) -> None:
    bigquery = parse_spec_text(f"""
bigquerySource: {{table: p.d.t, features: [x]}}
model: {{uri: '{model}'}}
gcsSink: {{format: PARQUET, uri: '{tmp_path / "o"}'}}
""")
    assert resume_key(bigquery, model) == ResumeKey(refusal=BIGQUERY_SOURCE)
    inputs = write_inputs(tmp_path / "in")
    recording = parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: '{inputs}', features: [x]}}
model: {{uri: '{model}'}}
gcsSink: {{format: PARQUET, uri: '{tmp_path / "o"}'}}
errorHandling: {{mode: RECORD_AND_CONTINUE}}
""")
    assert resume_key(recording, model).refusal == RECORDING
    plain = parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: '{inputs}', features: [x]}}
model: {{uri: '{model}'}}
gcsSink: {{format: PARQUET, uri: '{tmp_path / "o"}'}}
""")
    key = resume_key(plain, model)
    assert not key.refusal and key == resume_key(plain, model)  # stable
    size = sum(p.stat().st_size for p in inputs.iterdir())
    assert key.described == f"{FILES} file(s), {size:,} bytes"
    (model / "extra.txt").write_text("a changed model")
    changed = resume_key(plain, model)
    assert changed.inputs == key.inputs and changed.config != key.config
    assert "spec or the model changed" in changed.mismatch(key.manifest())
    (model / "extra.txt").unlink()


def test_a_bigquery_source_rerun_says_why_nothing_is_resumed(
    spark: Any, emulators: Any, model: Path, tmp_path: Path
) -> None:
    """The storage-api engine on bqemulator: the first attempt is killed after staging, the
    rerun reads the table anew and reuses nothing, saying why."""
    from google.cloud import bigquery

    from tests.bq_helpers import bq_client, create_dataset

    dataset = create_dataset("resume_source")
    table = f"{dataset}.scores_in"
    client = bq_client()
    client.delete_table(table, not_found_ok=True)
    rows = [{"id": i, "x": float(i)} for i in range(ROWS)]
    schema = [bigquery.SchemaField("id", "INTEGER"), bigquery.SchemaField("x", "FLOAT")]
    client.create_table(bigquery.Table(table, schema=schema))
    client.insert_rows_json(table, rows)
    case = new_case("local", tmp_path)
    spec = parse_spec_text(f"""
bigquerySource: {{table: {table}, features: [x], passthrough: [id]}}
model: {{uri: '{model}'}}
{case.sink_yaml()}
""")
    _killed_after_staging(spark, spec, "r5")
    result = run_job(spark, spec, "resume", "r5")
    assert result.partitions_reused == 0
    assert result.resume_note.endswith(f": {BIGQUERY_SOURCE}")
    check_outcome(case, "resume", 0, expect="complete")
    assert json.dumps(status_document("COMPLETED", "j", "r5", result=result))
