"""Local files end to end through ``run_job`` on the session's SparkSession."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from tests.models import save_probe_model


def _input(tmp_path: Path, frame: pd.DataFrame, name: str = "input") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    frame.to_parquet(directory / "part-0.parquet", index=False, coerce_timestamps="us")
    return directory


def _spec(
    source: Path,
    model: Path,
    output: Path,
    features: list[str],
    passthrough: list[str] | None = None,
    result: str = "{type: DOUBLE}",
    save_mode: str = "ERRORIFEXISTS",
    fmt: str = "PARQUET",
) -> str:
    return f"""
gcsSource:
  format: PARQUET
  uri: {source}
  features: {features}
  passthrough: {passthrough or []}
model:
  type: PYFUNC
  uri: {model}
  result: {result}
gcsSink:
  format: {fmt}
  uri: {output}
  save_mode: {save_mode}
"""


@pytest.fixture()
def numbers(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"key": ["k1", "k2", "k3"], "a": [1.0, 2.0, 3.0], "b": [10, 20, 30]})
    return _input(tmp_path, frame)


def _run(spark, text: str, job: str = "test_job"):  # type: ignore[no-untyped-def]
    return run_job(spark, parse_spec_text(text), job, "run1")


@pytest.mark.spark35
def test_sum_model_with_passthrough_and_column_order(spark, tmp_path: Path, numbers: Path) -> None:
    model = save_probe_model(tmp_path / "model", "sum")
    out = tmp_path / "out"
    result = _run(spark, _spec(numbers, model, out, ["b", "a"], ["key"]))
    assert result.status == "COMPLETED" and result.rows_read == 3 and result.rows_written == 3
    written = spark.read.parquet(str(out))
    assert written.columns == ["key", "b", "a", "prediction"]
    expected = spark.createDataFrame(
        [("k1", 10, 1.0, 11.0), ("k2", 20, 2.0, 22.0), ("k3", 30, 3.0, 33.0)],
        "key string, b long, a double, prediction double",
    )
    assert_df_equality(written, expected, ignore_row_order=True, ignore_nullable=True)


def test_features_reach_the_model_by_name_in_spec_order(
    spark, tmp_path: Path, numbers: Path
) -> None:
    model = save_probe_model(tmp_path / "model", "columns")
    out = tmp_path / "out"
    _run(spark, _spec(numbers, model, out, ["b", "a"], result="{type: STRING}"))
    rows = spark.read.parquet(str(out)).select("prediction").distinct().collect()
    assert [row.prediction for row in rows] == ["b,a"]


@pytest.mark.parametrize(
    ("result", "value", "spark_type", "expected"),
    [
        ("{type: DOUBLE}", 1.5, "double", 1.5),
        ("{type: FLOAT}", 2.5, "float", 2.5),
        ("{type: INTEGER}", 7, "int", 7),
        ("{type: LONG}", 2**40, "bigint", 2**40),
        ("{type: INTEGER}", 3.0, "int", 3),
        ("{type: STRING}", "setosa", "string", "setosa"),
        ("{type: STRING}", 12, "string", "12"),
        ("{type: ARRAY, itemType: DOUBLE}", [0.25, 0.75], "array<double>", [0.25, 0.75]),
        ("{type: ARRAY, itemType: FLOAT}", [1.5], "array<float>", [1.5]),
        ("{type: ARRAY, itemType: INTEGER}", [1, 2], "array<int>", [1, 2]),
        ("{type: ARRAY, itemType: LONG}", [5, 6, 7], "array<bigint>", [5, 6, 7]),
        ("{type: ARRAY, itemType: STRING}", ["x", "y"], "array<string>", ["x", "y"]),
    ],
)
@pytest.mark.spark35
def test_result_types(
    spark, tmp_path: Path, numbers: Path, result: str, value, spark_type: str, expected
) -> None:  # type: ignore[no-untyped-def]
    model = save_probe_model(tmp_path / "model", "constant", value=value)
    out = tmp_path / "out"
    _run(spark, _spec(numbers, model, out, ["a"], result=result))
    written = spark.read.parquet(str(out))
    assert written.schema["prediction"].dataType.simpleString() == spark_type
    assert [row.prediction for row in written.collect()] == [expected] * 3


def test_two_dimensional_output_as_array(spark, tmp_path: Path, numbers: Path) -> None:
    model = save_probe_model(tmp_path / "model", "pairs")
    out = tmp_path / "out"
    _run(spark, _spec(numbers, model, out, ["a"], result="{type: ARRAY, itemType: DOUBLE}"))
    got = sorted(row.prediction for row in spark.read.parquet(str(out)).collect())
    assert got == [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]


@pytest.mark.parametrize(
    ("result", "value", "message"),
    [
        ("{type: INTEGER}", "abc", "model.result.type: the model's output"),
        ("{type: LONG}", 0.5, "cannot be converted to LONG"),
        ("{type: ARRAY, itemType: DOUBLE}", 1.0, "ARRAY was declared but the model returned one"),
    ],
)
def test_unconvertible_output_is_a_user_error_and_nothing_is_written(
    spark, tmp_path: Path, numbers: Path, result: str, value, message: str
) -> None:  # type: ignore[no-untyped-def]
    model = save_probe_model(tmp_path / "model", "constant", value=value)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message):
        _run(spark, _spec(numbers, model, out, ["a"], result=result))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


@pytest.mark.spark35
def test_date_and_timestamp_features_arrive_as_datetime64(spark, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "day": [dt.date(2021, 3, 4), dt.date(2023, 12, 31)],
            "at": pd.to_datetime(["2019-01-01 10:00", "2020-06-01 00:00"]),
        }
    )
    source = _input(tmp_path, frame)
    model = save_probe_model(tmp_path / "model", "year")
    for feature, years in (("day", [2021, 2023]), ("at", [2019, 2020])):
        out = tmp_path / f"out_{feature}"
        _run(spark, _spec(source, model, out, [feature], result="{type: INTEGER}"))
        got = sorted(row.prediction for row in spark.read.parquet(str(out)).collect())
        assert got == years


def test_missing_column_names_it_and_lists_the_columns(
    spark, tmp_path: Path, numbers: Path
) -> None:
    model = save_probe_model(tmp_path / "model", "sum")
    with pytest.raises(UserError) as raised:
        _run(spark, _spec(numbers, model, tmp_path / "out", ["a", "c"]))
    assert "gcsSource.features: column 'c' does not exist" in str(raised.value)
    assert "Columns: key, a, b." in str(raised.value)
    with pytest.raises(UserError, match="gcsSource.passthrough: column 'id' does not exist"):
        _run(spark, _spec(numbers, model, tmp_path / "out", ["a"], ["id"]))
    assert not (tmp_path / "out").exists()


def test_empty_features_means_every_column_but_passthrough(
    spark, tmp_path: Path, numbers: Path
) -> None:
    model = save_probe_model(tmp_path / "model", "columns")
    out = tmp_path / "out"
    _run(spark, _spec(numbers, model, out, [], ["key"], result="{type: STRING}"))
    written = spark.read.parquet(str(out))
    assert written.columns == ["key", "a", "b", "prediction"]
    assert {row.prediction for row in written.collect()} == {"a,b"}


@pytest.mark.spark35
def test_csv_and_json_inputs(spark, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,x\n1,0.5\n2,1.5\n")
    (tmp_path / "in.json").write_text('{"id": 1, "x": 0.5}\n{"id": 2, "x": 1.5}\n')
    model = save_probe_model(tmp_path / "model", "sum")
    for fmt, name in (("CSV", "in.csv"), ("JSON", "in.json")):
        out = tmp_path / f"out_{fmt}"
        text = _spec(tmp_path / name, model, out, ["x"], ["id"]).replace(
            "format: PARQUET", f"format: {fmt}", 1
        )
        _run(spark, text)
        got = sorted((r.id, r.prediction) for r in spark.read.parquet(str(out)).collect())
        assert got == [(1, 0.5), (2, 1.5)]


def test_file_uri_and_json_shards(spark, tmp_path: Path, numbers: Path) -> None:
    model = save_probe_model(tmp_path / "model", "sum")
    out = tmp_path / "out"
    _run(spark, _spec(f"file://{numbers}", model, out, ["a"], ["key"], fmt="JSON"))  # type: ignore[arg-type]
    shards = sorted(p.name for p in out.iterdir() if not p.name.startswith("_"))  # _report.*
    assert shards == [
        f"prediction.results-{i:05d}-of-{len(shards):05d}" for i in range(len(shards))
    ]
    lines = [line for name in shards for line in (out / name).read_text().splitlines()]
    assert sorted(lines) == [
        '{"key":"k1","a":1.0,"prediction":1.0}',
        '{"key":"k2","a":2.0,"prediction":2.0}',
        '{"key":"k3","a":3.0,"prediction":3.0}',
    ]


class TestSaveModes:
    @pytest.fixture()
    def existing(self, tmp_path: Path) -> Path:
        out = tmp_path / "out"
        out.mkdir()
        pd.DataFrame({"key": ["old"], "a": [0.0], "prediction": [-1.0]}).to_parquet(
            out / "old.parquet", index=False
        )
        return out

    def _spec(self, tmp_path: Path, numbers: Path, out: Path, mode: str) -> tuple[str, Path]:
        markers = tmp_path / "loads"
        markers.mkdir(exist_ok=True)
        model = save_probe_model(tmp_path / f"model_{mode}", "sum", load_marker=str(markers))
        return _spec(numbers, model, out, ["a"], ["key"], save_mode=mode), markers

    @pytest.mark.parametrize("mode", ["ERRORIFEXISTS", "ERROR"])
    def test_error_if_exists_fails_before_predicting(
        self, spark, tmp_path: Path, numbers: Path, existing: Path, mode: str
    ) -> None:
        text, markers = self._spec(tmp_path, numbers, existing, mode)
        loads_before = set(markers.iterdir())  # saving a model may load it once
        with pytest.raises(UserError, match=f"already exists and gcsSink.save_mode is {mode}"):
            _run(spark, text)
        assert [p.name for p in existing.iterdir()] == ["old.parquet"]
        assert set(markers.iterdir()) == loads_before

    def test_ignore_skips_the_job(
        self, spark, tmp_path: Path, numbers: Path, existing: Path
    ) -> None:
        text, markers = self._spec(tmp_path, numbers, existing, "IGNORE")
        loads_before = set(markers.iterdir())
        result = _run(spark, text)
        assert result.status == "SKIPPED" and "save_mode is IGNORE" in result.summary()
        assert [p.name for p in existing.iterdir()] == ["old.parquet"]
        assert set(markers.iterdir()) == loads_before

    def test_overwrite_replaces(self, spark, tmp_path: Path, numbers: Path, existing: Path) -> None:
        text, _ = self._spec(tmp_path, numbers, existing, "OVERWRITE")
        _run(spark, text)
        keys = sorted(r.key for r in spark.read.parquet(str(existing)).collect())
        assert keys == ["k1", "k2", "k3"]

    def test_append_adds(self, spark, tmp_path: Path, numbers: Path, existing: Path) -> None:
        text, _ = self._spec(tmp_path, numbers, existing, "APPEND")
        _run(spark, text)
        _run(spark, text.replace("run1", "run2"), job="again")
        keys = sorted(r.key for r in spark.read.parquet(str(existing)).collect())
        assert keys == ["k1", "k1", "k2", "k2", "k3", "k3", "old"]

    @pytest.mark.parametrize("mode", ["ERRORIFEXISTS", "IGNORE", "OVERWRITE", "APPEND"])
    def test_every_mode_writes_a_missing_output(
        self, spark, tmp_path: Path, numbers: Path, mode: str
    ) -> None:
        out = tmp_path / "new"
        text, _ = self._spec(tmp_path, numbers, out, mode)
        assert _run(spark, text).status == "COMPLETED"
        assert spark.read.parquet(str(out)).count() == 3


def test_model_is_loaded_once_per_worker_not_per_batch(spark, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [float(i) for i in range(4000)]})
    source = tmp_path / "input"
    source.mkdir()
    for part in range(4):
        frame.iloc[part * 1000 : (part + 1) * 1000].to_parquet(source / f"p{part}.parquet")
    markers = tmp_path / "loads"
    markers.mkdir()
    model = save_probe_model(tmp_path / "model", "sum", load_marker=str(markers))
    for saved_load in markers.iterdir():  # saving a model may load it once, in this process
        saved_load.unlink()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    try:
        result = _run(spark, _spec(source, model, tmp_path / "out", ["a"]))
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert result.rows_predicted == 4000  # 40 batches at least
    loads = list(markers.iterdir())
    workers = {p.name.split("-")[1] for p in loads}
    assert 1 <= len(loads) <= 2, loads  # local[2]: at most two Python workers at once
    assert len(loads) == len(workers)  # never twice in one worker
