"""The job's one scoring path (Arrow batches) predicts what a pandas UDF over the same model
predicts, and takes every feature type the job can read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from spark_job.run.runner import predictions_of, run_job
from spark_job.scoring.arrow_scorer import arrow_scoring_supported
from spark_job.scoring.batching import BATCH_ROWS_CONF, MAX_ROWS, MIN_ROWS, BatchSize, batch_rows
from spark_job.scoring.model import load_pyfunc, ship_model
from spark_job.scoring.results import result_spark_type, to_result_series
from spark_job.scoring.row_errors import RowErrors
from spark_job.spec import ModelResult, ResultType, parse_spec_text
from tests.models import save_probe_model

ROWS = [
    (1, None, 1.5, "a", True, date(2020, 1, 2)),
    (2, 3, -2.0, None, False, date(2021, 5, 6)),
    (3, 4, None, "c", None, None),
]
SCHEMA = "id long, n int, x double, s string, b boolean, d date"


def _spec(features: list[str], result: ModelResult, model: Path) -> Any:
    item = f", item_type: {result.item_type.value}" if result.item_type else ""
    return parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: /unused, features: {features}, passthrough: [id]}}
model: {{uri: {model}, result: {{type: {result.type.value}{item}}}}}
gcsSink: {{format: JSON, uri: /unused-out}}
""")


def _predictions(spark: Any, frame: Any, spec: Any, model: Path) -> tuple[Any, Any]:
    """The job's predictions of ``frame`` (as the runner builds them) and the rows counter."""
    shipped = ship_model(spark, model)
    errors = RowErrors.create(spark, spec.error_handling, spec.source_field)
    rows = spark.sparkContext.accumulator(0)
    return predictions_of(frame, spec, shipped.name, rows, errors), rows


@pytest.mark.parametrize(
    ("behaviour", "features", "result"),
    [
        ("sum", ["n", "x", "b"], ModelResult(ResultType.DOUBLE)),
        ("columns", ["n", "x", "s", "b", "d"], ModelResult(ResultType.STRING)),
        ("year", ["d"], ModelResult(ResultType.DOUBLE)),
        ("pairs", ["n", "x"], ModelResult(ResultType.ARRAY, ResultType.DOUBLE)),
    ],
)
def test_arrow_scoring_matches_a_pandas_udf(
    spark: Any, tmp_path: Path, behaviour: str, features: list[str], result: ModelResult
) -> None:
    """The oracle is Spark's own pandas UDF calling the same model (dates made datetime64, as
    models are promised)."""
    frame = spark.createDataFrame(ROWS, SCHEMA).select("id", *features)
    assert arrow_scoring_supported(frame, features)
    model = save_probe_model(tmp_path / "model", behaviour)
    predictions, arrow_rows = _predictions(spark, frame, _spec(features, result, model), model)
    arrow = predictions.frame()
    model_dir = str(model)

    def oracle(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        loaded = load_pyfunc(model_dir)
        for batch in batches:
            columns = batch if isinstance(batch, tuple) else (batch,)  # one feature: a Series
            inputs = pd.DataFrame(dict(zip(features, columns, strict=True)))
            if "d" in inputs:
                inputs["d"] = pd.to_datetime(inputs["d"])
            yield to_result_series(loaded.predict(inputs), result, len(inputs))

    udf = pandas_udf(oracle, result_spark_type(result))  # type: ignore[call-overload]
    expected = frame.select("id", *features, udf(*[frame[n] for n in features]).alias("prediction"))
    assert len(arrow.collect()) == len(ROWS) == arrow_rows.value
    assert_df_equality(arrow, expected, ignore_row_order=True, ignore_nullable=True)


def test_selecting_columns_keeps_the_result_last(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame(ROWS, SCHEMA).select("id", "n", "x")
    model = save_probe_model(tmp_path / "model", "sum")
    spec = _spec(["n", "x"], ModelResult(ResultType.DOUBLE), model)
    predictions, _ = _predictions(spark, frame, spec, model)
    selected = predictions.select(["id"]).frame()
    assert selected.columns == ["id", "prediction"]
    assert sorted(tuple(r) for r in selected.collect()) == [(1, 1.5), (2, 1.0), (3, 4.0)]


def test_nested_and_timestamp_features_take_the_arrow_path(spark: Any) -> None:
    frame = spark.createDataFrame([(1, [1.0], None)], "id long, v array<double>, t timestamp")
    assert arrow_scoring_supported(frame, ["v"])
    assert arrow_scoring_supported(frame, ["t"])
    assert arrow_scoring_supported(frame, ["id"])


def _parquet_job(source: Path, model: Path, out: Path, options: str) -> Any:
    return parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: {source}, features: [x], passthrough: [id]}}
model: {{uri: {model}}}
gcsSink: {{format: PARQUET, uri: {out}, options: {options}}}
""")


def test_local_parquet_is_written_by_the_scoring_tasks_unless_spark_options_ask(
    spark: Any, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": range(100), "x": [2.0] * 100}).to_parquet(source, index=False)
    model = save_probe_model(tmp_path / "model", "sum")
    by_tasks, by_spark = tmp_path / "tasks", tmp_path / "spark"
    run_job(spark, _parquet_job(source, model, by_tasks, "{compression: zstd}"), "j", "r1")
    spark_options = "{parquet.block.size: '1048576'}"
    run_job(spark, _parquet_job(source, model, by_spark, spark_options), "j", "r2")
    task_files = sorted(p.name for p in by_tasks.glob("*.parquet"))
    assert task_files and not any(".snappy." in name for name in task_files)
    metadata = pq.ParquetFile(by_tasks / task_files[0]).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert all(".snappy.parquet" in p.name for p in by_spark.glob("*.parquet"))
    for out in (by_tasks, by_spark):
        table = pq.read_table(out).to_pandas().sort_values("id")
        assert table["prediction"].tolist() == [2.0] * 100


def test_batches_are_sized_by_row_width(spark: Any) -> None:
    narrow = StructType([StructField(f"f{i}", DoubleType()) for i in range(9)])
    wide = StructType([StructField(f"f{i}", DoubleType()) for i in range(5000)])
    assert batch_rows(narrow) == MAX_ROWS
    assert batch_rows(wide) == MIN_ROWS
    assert batch_rows(StructType([StructField("s", StringType())] * 64)) == 4096
    size = BatchSize(spark, narrow)
    assert spark.conf.get(BATCH_ROWS_CONF) == str(MAX_ROWS)
    size.restore()
    assert spark.conf.get(BATCH_ROWS_CONF, None) is None
    spark.conf.set(BATCH_ROWS_CONF, "123")  # the user's choice stands
    try:
        assert BatchSize(spark, narrow).rows == 123
    finally:
        spark.conf.unset(BATCH_ROWS_CONF)
