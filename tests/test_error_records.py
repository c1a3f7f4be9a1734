"""Error records (RECORD_AND_CONTINUE): every failed instance written whole, with its error —
``prediction.errors-*`` beside local and gs:// results, ``<table>_errors`` in BigQuery — and
none when the job fails."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_job.errors import UserError
from spark_job.run.runner import JobResult, run_job
from spark_job.run.status import status_document
from spark_job.spec import parse_spec_text
from spark_job.storage import gcs
from tests import gcs_helpers as g
from tests.bq_helpers import create_dataset, run_sql
from tests.conftest import EMULATOR_PROJECT
from tests.models import save_probe_model

pytestmark = pytest.mark.usefixtures("emulators")

RECORDS = re.compile(r"prediction\.errors-(\d{5})-of-(\d{5})$")
NEGATIVE = "ValueError: negative feature value"  # what the model raises on x < 0
DATASET = "records_tests"
BUCKET = "records-staging"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sums the numeric features; raises on a batch holding a negative one."""
    return save_probe_model(tmp_path_factory.mktemp("model") / "model", "fail_if_negative")


def _spec(source: str, fmt: str, model: Path, sink: str, ratio: float = 0.9) -> str:
    return f"""
gcsSource:
  format: {fmt}
  uri: {source}
  features: [x]
  passthrough: [key]
model: {{type: PYFUNC, uri: {model}}}
{sink}
errorHandling: {{mode: RECORD_AND_CONTINUE, maxErrorRatio: {ratio}}}
"""


def _run(spark: Any, text: str, run_id: str = "r1") -> JobResult:
    return run_job(spark, parse_spec_text(text), "records_test", run_id)


def _by_code(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"instance", "error"}
        found.setdefault(record["error"]["code"], []).append(record)
    return found


def test_local_records_of_reader_and_model_failures(spark, tmp_path: Path, model: Path) -> None:
    """JSON lines: line 2 is not JSON, line 3 has text for x, line 4 makes the model raise."""
    source = tmp_path / "in.json"
    source.write_text(
        '{"key": "a", "x": 1.0}\n{"key": "b", "x": \n{"key": "c", "x": "three"}\n'
        '{"key": "d", "x": -4.0}\n{"key": "e", "x": 5.0}\n'
    )
    out = tmp_path / "out"
    sink = f"gcsSink: {{format: JSON, uri: {out}}}"
    with pytest.raises(UserError, match="3 of 5 instances failed"):
        _run(spark, _spec(str(source), "JSON", model, sink, ratio=0.5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json"]  # no records, no staging

    result = _run(spark, _spec(str(source), "JSON", model, sink))
    assert result.summary().startswith("instances: 2 succeeded, 3 failed; rows written: 2")
    status = status_document("COMPLETED", "records_test", "r1", result=result)
    assert (status["instances_succeeded"], status["instances_failed"]) == (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json", "out"]  # nothing hidden left
    files = sorted(p.name for p in out.iterdir() if RECORDS.match(p.name))
    assert files and all(RECORDS.match(f)[2] == f"{len(files):05d}" for f in files)  # type: ignore[index]
    found = _by_code([line for f in files for line in (out / f).read_text().splitlines()])
    assert found["MODEL_ERROR"] == [
        {
            "instance": {"key": "d", "x": -4.0},
            "error": {"code": "MODEL_ERROR", "message": f"{source} line 4: {NEGATIVE}"},
        }
    ]
    (unparseable,) = found["UNPARSEABLE"]
    assert unparseable["instance"] == {"raw": '{"key": "b", "x": '}
    assert unparseable["error"]["message"].startswith(f"{source} line 2: not valid JSON")
    assert found["WRONG_TYPE"] == [
        {
            "instance": {"raw": '{"key":"c","x":"three"}'},
            "error": {
                "code": "WRONG_TYPE",
                "message": f"{source} line 3: column 'x': expected a number, got \"three\"",
            },
        }
    ]


def test_gcs_records_beside_parquet_results(spark, tmp_path: Path, model: Path) -> None:
    """PARQUET in (Spark's reader: no file or line), PARQUET out on gs://: the records are JSON
    lines all the same, instances as the JSON results would hold them."""
    bucket = g.new_bucket("records")
    source = tmp_path / "in"
    source.mkdir()
    frame = pd.DataFrame(
        {
            "key": ["a", "b", "c"],
            "x": [1.0, 2.0, -3.0],
            "day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).date,
            "tags": [[1], [], [3, 4]],
        }
    )
    frame.to_parquet(source / "p.parquet", index=False)
    text = _spec(
        str(source), "PARQUET", model, f"gcsSink: {{format: PARQUET, uri: gs://{bucket}/out}}"
    )
    text = text.replace("features: [x]", "features: [x, day, tags]")
    result = _run(spark, text)
    assert (result.rows_predicted, result.rows_failed) == (2, 1)
    names = g.listing(bucket)
    assert "out/prediction.errors-00000-of-00001" in names
    assert "out/prediction.errors_stats-00000-of-00001" in names
    assert not [n for n in names if "staging" in n]
    (line,) = g.get(bucket, "out/prediction.errors-00000-of-00001").decode().splitlines()
    assert json.loads(line) == {
        "instance": {"key": "c", "x": -3.0, "day": "2024-01-03", "tags": [3, 4]},
        "error": {"code": "MODEL_ERROR", "message": NEGATIVE},
    }


@pytest.fixture(scope="module")
def bigquery_env(emulators: Any) -> None:
    create_dataset(DATASET)
    storage = gcs.client()
    if storage.lookup_bucket(BUCKET) is None:
        storage.create_bucket(BUCKET)


def _bigquery_sink(table: str, mode: str, errors_table: str = "") -> str:
    extra = f"\n  errorsTable: {DATASET}.{errors_table}" if errors_table else ""
    return f"""bigquerySink:
  table: {EMULATOR_PROJECT}.{DATASET}.{table}
  staging_bucket: {BUCKET}
  save_mode: {mode}
  options: {{engine: storage-api}}{extra}"""


def _error_rows(table: str) -> list[tuple[Any, ...]]:
    rows = run_sql(f"SELECT instance, error FROM `{EMULATOR_PROJECT}.{DATASET}.{table}`")
    return sorted(
        (r["error"]["code"], r["instance"]["key"], r["instance"]["x"], tuple(r["instance"]["tags"]),
         r["instance"]["raw"], r["error"]["message"])
        for r in rows
    )  # fmt: skip


@pytest.mark.usefixtures("bigquery_env")
def test_bigquery_errors_table(spark, tmp_path: Path, model: Path) -> None:
    """JSON lines into ``scored``: the failed instances land in ``scored_errors`` (the raw text
    of the line the reader could not use in ``instance.raw``); the errors table follows the
    SaveMode; a run where nothing fails leaves it empty under OVERWRITE."""
    source = tmp_path / "in.json"
    source.write_text(
        '{"key": "a", "x": 1.0, "tags": [1, 2]}\n{"key": "c", "x": -3.0, "tags": [3]}\n'
        'not json\n{"key": "d", "x": 4.0, "tags": []}\n'
    )
    text = _spec(str(source), "JSON", model, _bigquery_sink("scored", "ERRORIFEXISTS"))
    result = _run(spark, text.replace("features: [x]", "features: [x, tags]"))
    assert (result.rows_predicted, result.rows_failed) == (2, 2)
    rows = _error_rows("scored_errors")
    assert rows[0] == ("MODEL_ERROR", "c", -3.0, (3,), None, f"{source} line 2: {NEGATIVE}")
    assert rows[1][:5] == ("UNPARSEABLE", None, None, (), "not json")
    assert rows[1][5].startswith(f"{source} line 3: not valid JSON")
    assert _staging_objects() == []

    # The errors table exists: ERRORIFEXISTS fails before anything is read
    taken = _spec(
        str(source), "JSON", model, _bigquery_sink("other", "ERRORIFEXISTS", "scored_errors")
    )
    with pytest.raises(UserError, match=r"bigquerySink.errorsTable: table .*scored_errors \(the"):
        _run(spark, taken, run_id="r2")

    good = tmp_path / "good.json"
    good.write_text('{"key": "a", "x": 1.0, "tags": [1]}\n')
    text = _spec(str(good), "JSON", model, _bigquery_sink("scored", "OVERWRITE"))
    result = _run(spark, text.replace("features: [x]", "features: [x, tags]"), run_id="r3")
    assert (result.rows_predicted, result.rows_failed) == (1, 0)
    assert _error_rows("scored_errors") == []  # this run's records: none
    assert _staging_objects() == []


def _staging_objects() -> list[str]:
    return [obj.name for obj in gcs.list_prefix(gcs.client(), gcs.GcsPath(BUCKET, ""))]
