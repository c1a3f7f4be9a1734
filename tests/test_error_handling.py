"""Row-level error isolation: FAIL_FAST vs RECORD_AND_CONTINUE vs an exceeded maxErrorRatio,
the error report, and nothing published when the job fails."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.sources import column_types as ct
from spark_job.spec import parse_spec_text
from tests import gcs_helpers as g
from tests.models import save_probe_model

REPORT = "prediction.errors_stats-00000-of-00001"


@pytest.fixture(scope="module")
def picky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sums the features; raises on any batch holding x == 13."""
    return g.save_picky_model(tmp_path_factory.mktemp("picky") / "model", "x", 13.0)


def spec(
    uri: str,
    model: Path,
    output: str,
    mode: str = "FAIL_FAST",
    ratio: float = 0.0,
    fmt: str = "JSON",
    out_fmt: str = "JSON",
) -> str:
    return f"""
gcsSource:
  format: {fmt}
  uri: {uri}
  features: [x]
  passthrough: [id]
model:
  type: PYFUNC
  uri: {model}
gcsSink:
  format: {out_fmt}
  uri: {output}
errorHandling:
  mode: {mode}
  maxErrorRatio: {ratio}
"""


def run(spark, text: str):  # type: ignore[no-untyped-def]
    return run_job(spark, parse_spec_text(text), "errors_test", "run1")


def nothing_published(directory: Path) -> bool:
    return not any(p.name.startswith("out") or ".out." in p.name for p in directory.iterdir())


# Ten instances: line 3 is not JSON, line 5 has a string for x, line 8 makes the model raise.
LINES = [
    '{"id": 1, "x": 1.0}',
    '{"id": 2, "x": 2.0}',
    '{"id": 3, "x": ',
    '{"id": 4, "x": 4.0}',
    '{"id": 5, "x": "five"}',
    '{"id": 6, "x": 6.0}',
    '{"id": 7, "x": 7.0}',
    '{"id": 8, "x": 13.0}',
    '{"id": 9, "x": 9.0}',
    '{"id": 10, "x": 10.0}',
]


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "in.json"
    path.write_text("\n".join(LINES) + "\n")
    return path


# --------------------------------------------------------------------------- FAIL_FAST


def test_fail_fast_names_the_unparseable_line(
    spark, tmp_path: Path, messy: Path, picky: Path
) -> None:
    with pytest.raises(UserError) as raised:
        run(spark, spec(str(messy), picky, str(tmp_path / "out")))
    message = str(raised.value)
    assert f"gcsSource: {messy} line 3 cannot be read: not valid JSON" in message
    assert "errorHandling.mode is FAIL_FAST" in message
    assert nothing_published(tmp_path)


def test_fail_fast_names_the_wrongly_typed_value(spark, tmp_path: Path, picky: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text("\n".join([LINES[0], LINES[1], LINES[4], LINES[5]]) + "\n")
    with pytest.raises(UserError) as raised:
        run(spark, spec(str(source), picky, str(tmp_path / "out")))
    assert (
        f"{source} line 3 does not fit the input's columns: column 'x': expected a number,"
        ' got "five"'
    ) in str(raised.value)
    assert nothing_published(tmp_path)


def test_fail_fast_names_the_instance_the_model_fails_on(
    spark, tmp_path: Path, picky: Path
) -> None:
    source = tmp_path / "in.json"
    source.write_text("\n".join([LINES[0], LINES[1], LINES[7], LINES[8]]) + "\n")
    with pytest.raises(UserError) as raised:  # the user's model or instance: exit 2
        run(spark, spec(str(source), picky, str(tmp_path / "out")))
    assert str(raised.value) == (
        f"gcsSource: the model failed on {source} line 3: ValueError: cannot score x=13.0"
    )
    assert nothing_published(tmp_path)


def test_fail_fast_without_origin_shows_the_instance(spark, tmp_path: Path, picky: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    pd.DataFrame({"id": [1, 2], "x": [13.0, 1.0]}).to_parquet(source / "p.parquet")
    with pytest.raises(Exception, match=r"the model failed on an instance \{'x': 13.0\}"):
        run(spark, spec(str(source), picky, str(tmp_path / "out"), fmt="PARQUET"))


# --------------------------------------------------------------------------- RECORD_AND_CONTINUE


def test_record_and_continue_skips_and_reports(
    spark, tmp_path: Path, messy: Path, picky: Path
) -> None:
    out = tmp_path / "out"
    result = run(spark, spec(str(messy), picky, str(out), "RECORD_AND_CONTINUE", 0.5))
    assert (result.rows_read, result.rows_predicted, result.rows_failed) == (10, 7, 3)
    assert result.rows_written == 7
    assert "instances: 7 succeeded, 3 failed" in result.summary()
    results = [
        json.loads(line)
        for p in sorted(out.glob("prediction.results-*"))
        for line in p.read_text().splitlines()
    ]
    assert sorted(r["id"] for r in results) == [1, 2, 4, 6, 7, 9, 10]
    report = [json.loads(line) for line in (out / REPORT).read_text().splitlines()]
    assert report == [
        {
            "error": "MODEL_ERROR",
            "count": 1,
            "examples": [
                {"file": str(messy), "line": 8, "message": "ValueError: cannot score x=13.0"}
            ],
        },
        {
            "error": "UNPARSEABLE",
            "count": 1,
            "examples": [
                {"file": str(messy), "line": 3, "message": report[1]["examples"][0]["message"]}
            ],
        },
        {
            "error": "WRONG_TYPE",
            "count": 1,
            "examples": [
                {
                    "file": str(messy),
                    "line": 5,
                    "message": "column 'x': expected a number, got \"five\"",
                }
            ],
        },
    ]
    assert report[1]["examples"][0]["message"].startswith("not valid JSON: Expecting value")


def test_exceeded_ratio_fails_and_publishes_nothing(
    spark, tmp_path: Path, messy: Path, picky: Path
) -> None:
    with pytest.raises(UserError) as raised:
        run(spark, spec(str(messy), picky, str(tmp_path / "out"), "RECORD_AND_CONTINUE", 0.2))
    message = str(raised.value)
    assert message.startswith(
        "errorHandling.maxErrorRatio: 3 of 10 instances failed (30.0%), more than the allowed 20.0%"
    )
    assert "MODEL_ERROR: 1, UNPARSEABLE: 1, WRONG_TYPE: 1" in message
    assert nothing_published(tmp_path)


def test_exceeded_ratio_on_gcs_publishes_nothing(
    spark, emulators, tmp_path: Path, picky: Path
) -> None:  # type: ignore[no-untyped-def]
    bucket = g.new_bucket("ratio")
    source = g.put(bucket, "in/a.json", "\n".join(LINES) + "\n")
    g.put(bucket, "out/kept.txt", "before")
    text = spec(source, picky, f"gs://{bucket}/out", "RECORD_AND_CONTINUE", 0.1)
    text = text.replace("gcsSink:\n", "gcsSink:\n  save_mode: OVERWRITE\n")
    with pytest.raises(UserError, match="errorHandling.maxErrorRatio: 3 of 10"):
        run(spark, text)
    assert g.listing(bucket) == ["in/a.json", "out/kept.txt"]  # no staging left, old output kept


def test_no_errors_still_writes_an_empty_report(spark, tmp_path: Path, picky: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(LINES[0] + "\n")
    out = tmp_path / "out"
    result = run(spark, spec(str(source), picky, str(out), "RECORD_AND_CONTINUE"))
    assert result.rows_failed == 0
    assert (out / REPORT).read_text() == ""


def test_model_runs_once_per_row_and_batch_isolation_on_parquet(
    spark, tmp_path: Path, picky: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    frame = pd.DataFrame(
        {"id": range(50), "x": [13.0 if i % 10 == 3 else float(i) for i in range(50)]}
    )
    frame.to_parquet(source / "p.parquet")
    out = tmp_path / "out"
    result = run(
        spark, spec(str(source), picky, str(out), "RECORD_AND_CONTINUE", 0.2, "PARQUET", "PARQUET")
    )
    # Filtering on the struct's ``ok`` must not run the model a second time.
    assert (result.rows_predicted, result.rows_failed, result.rows_written) == (45, 5, 45)
    parts = sorted(out.glob("part-*"))  # the error report sits next to the part files
    written = pd.concat(pd.read_parquet(p) for p in parts).sort_values("id")
    assert list(written["id"]) == [i for i in range(50) if i % 10 != 3]
    assert (written["prediction"] == written["x"]).all()
    report = [json.loads(line) for line in (out / REPORT).read_text().splitlines()]
    assert report[0]["error"] == "MODEL_ERROR" and report[0]["count"] == 5
    example = report[0]["examples"][0]
    assert example["file"] is None and "instance {'x': 13.0}" in example["message"]


def test_bad_tfrecord_crc_and_csv_rows(spark, tmp_path: Path) -> None:
    model = save_probe_model(tmp_path / "model", "sum")
    records = [g.example({"id": [i], "x": [float(i)]}) for i in range(4)]
    (tmp_path / "in.tfrecord").write_bytes(g.tfrecords(records, corrupt={1}))
    out = tmp_path / "out"
    text = spec(
        str(tmp_path / "in.tfrecord"), model, str(out), "RECORD_AND_CONTINUE", 0.5, "TFRECORD"
    )
    result = run(spark, text)
    assert (result.rows_predicted, result.rows_failed) == (3, 1)
    report = json.loads((out / REPORT).read_text())
    assert report["error"] == "UNPARSEABLE"
    assert report["examples"][0]["line"] == 2
    assert report["examples"][0]["message"] == "corrupt record data (data CRC mismatch)"
    with pytest.raises(UserError, match=r"in.tfrecord line 2 cannot be read: corrupt record data"):
        run(spark, spec(str(tmp_path / "in.tfrecord"), model, str(tmp_path / "o2"), fmt="TFRECORD"))

    (tmp_path / "in.csv").write_text("id,x\n1,1.0\n2,2.0,extra\n3,abc\n4,4.0\n5,5.0\n")
    out = tmp_path / "out_csv"
    text = spec(str(tmp_path / "in.csv"), model, str(out), "RECORD_AND_CONTINUE", 0.5, "CSV")
    result = run(spark, text)
    assert (result.rows_predicted, result.rows_failed) == (3, 2)
    kinds = {r["error"]: r for r in map(json.loads, (out / REPORT).read_text().splitlines())}
    assert kinds["UNPARSEABLE"]["examples"][0]["line"] == 3
    assert kinds["UNPARSEABLE"]["examples"][0]["message"] == "has 3 fields but the header has 2"
    assert kinds["WRONG_TYPE"]["examples"][0]["line"] == 4
    assert (
        kinds["WRONG_TYPE"]["examples"][0]["message"] == "column 'x': expected a number, got 'abc'"
    )


# --------------------------------------------------------------------------- type inference


def _infer(values: list[object], text: bool = False) -> pa.DataType:
    summary = ct.new_summary()
    for value in values:
        kind = ct.text_kind(value) if text else ct.value_kind(value)  # type: ignore[arg-type]
        elements = [ct.value_kind(v) for v in value] if kind == ct.LIST else None  # type: ignore[attr-defined]
        ct.observe(summary, kind, elements)
    return ct.choose_type(summary)


@pytest.mark.parametrize(
    ("values", "text", "expected"),
    [
        ([1, 2, None], False, pa.int64()),
        ([1, 2.5], False, pa.float64()),
        ([1.0, 2.0, 3.0, "bad"], False, pa.float64()),  # the majority decides; "bad" is an error
        (["a", 1], False, pa.string()),  # a tie goes to the permissive type
        ([True, False], False, pa.bool_()),
        ([[1, 2], [3.5]], False, pa.list_(pa.float64())),
        ([{"a": 1}], False, pa.string()),
        ([None], False, pa.string()),
        (["1", "2", ""], True, pa.int64()),
        (["1", "2.5", "x"], True, pa.float64()),
        (["true", "FALSE"], True, pa.bool_()),
        (["k1", "k2", "3"], True, pa.string()),
    ],
)
def test_column_type_inference(values: list[object], text: bool, expected: pa.DataType) -> None:
    assert _infer(values, text) == expected


def test_converters_enforce_types() -> None:
    to_long = ct.converter(pa.int64())
    assert to_long(3) == 3 and to_long(4.0) == 4
    for bad in (True, 4.5, "4", 2**64):
        with pytest.raises(ct.WrongType):
            to_long(bad)
    assert ct.converter(pa.string())({"a": [1]}) == '{"a": [1]}'
    assert ct.converter(pa.float64(), text=True)("2.5") == 2.5
    squeezed = ct.converter(pa.int64(), squeeze=True)
    assert squeezed([7]) == 7 and squeezed([]) is None
    with pytest.raises(ct.WrongType, match="expected one value, got 2"):
        squeezed([1, 2])


def test_truncated_gzip_json_is_one_unparseable_error(spark, tmp_path: Path) -> None:
    import gzip

    model = save_probe_model(tmp_path / "model", "sum")
    (tmp_path / "good.json").write_text('{"id": 0, "x": 1.0}\n')
    data = gzip.compress("".join(f'{{"id": {i}, "x": {i}.0}}\n' for i in range(200)).encode())
    (tmp_path / "cut.json.gz").write_bytes(data[: len(data) // 2])
    out = tmp_path.with_name(f"{tmp_path.name}_out")  # beside the input folder, not in it
    text = spec(f"{tmp_path}/*", model, str(out), "RECORD_AND_CONTINUE", 0.5)
    result = run(spark, text)
    # Lines decompressed before the cut are kept (here none: the file fits one read buffer).
    assert result.rows_failed == 1 and result.rows_predicted >= 1
    report = json.loads((out / REPORT).read_text())
    assert report["error"] == "UNPARSEABLE"
    example = report["examples"][0]
    assert example["file"] == str(tmp_path / "cut.json.gz")
    assert example["message"].startswith("cannot decompress: Compressed file ended")
    assert example["line"] == result.rows_predicted  # the line after the last one read
