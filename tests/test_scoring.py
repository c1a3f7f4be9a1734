"""The Arrow scoring path gives what the pandas-UDF path gives, and is the one the job takes
for plain feature types."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from spark_job.run.runner import run_job
from spark_job.scoring.arrow_scorer import (
    ArrowScorer,
    Scored,
    arrow_scoring_supported,
    scored_schema,
)
from spark_job.scoring.batching import BATCH_ROWS_CONF, MAX_ROWS, MIN_ROWS, BatchSize, batch_rows
from spark_job.scoring.model import prediction_column, ship_model
from spark_job.spec import ModelResult, ResultType, parse_spec_text
from tests.models import save_probe_model

ROWS = [
    (1, None, 1.5, "a", True, date(2020, 1, 2)),
    (2, 3, -2.0, None, False, date(2021, 5, 6)),
    (3, 4, None, "c", None, None),
]
SCHEMA = "id long, n int, x double, s string, b boolean, d date"


@pytest.mark.parametrize(
    ("behaviour", "features", "result"),
    [
        ("sum", ["n", "x", "b"], ModelResult(ResultType.DOUBLE)),
        ("columns", ["n", "x", "s", "b", "d"], ModelResult(ResultType.STRING)),
        ("year", ["d"], ModelResult(ResultType.DOUBLE)),
        ("pairs", ["n", "x"], ModelResult(ResultType.ARRAY, ResultType.DOUBLE)),
    ],
)
def test_arrow_scoring_matches_the_pandas_udf(
    spark: Any, tmp_path: Path, behaviour: str, features: list[str], result: ModelResult
) -> None:
    frame = spark.createDataFrame(ROWS, SCHEMA)
    assert arrow_scoring_supported(frame, features)
    shipped = ship_model(spark, save_probe_model(tmp_path / "model", behaviour))
    dates = {"d"} & set(features)
    keep = ["id", *features]
    arrow_rows = spark.sparkContext.accumulator(0)
    scorer = ArrowScorer(
        shipped.name, features, frozenset(dates), result, "prediction", arrow_rows, None,
        keep=keep,
    )  # fmt: skip
    arrow = Scored(frame, scorer, scored_schema(frame, keep, result, "prediction")).frame()
    udf_rows = spark.sparkContext.accumulator(0)
    column = prediction_column(
        shipped, features, dates, result, udf_rows, *[frame[name] for name in features]
    )
    udf = frame.select(*keep, column.alias("prediction"))
    assert len(arrow.collect()) == len(udf.collect()) == len(ROWS)
    assert arrow_rows.value == udf_rows.value == len(ROWS)  # one action each so far
    assert_df_equality(arrow, udf, ignore_row_order=True, ignore_nullable=True)


def test_selecting_columns_keeps_the_result_last(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame(ROWS, SCHEMA)
    shipped = ship_model(spark, save_probe_model(tmp_path / "model", "sum"))
    result = ModelResult(ResultType.DOUBLE)
    keep = ["id", "n", "x"]
    scorer = ArrowScorer(
        shipped.name, ["n", "x"], frozenset(), result, "p", spark.sparkContext.accumulator(0),
        None, keep=keep,
    )  # fmt: skip
    scored = Scored(frame, scorer, scored_schema(frame, keep, result, "p")).select(["id", "p"])
    assert scored.frame().columns == ["id", "p"]
    assert sorted(tuple(r) for r in scored.frame().collect()) == [(1, 1.5), (2, 1.0), (3, 4.0)]


def test_nested_and_timestamp_features_take_the_pandas_udf(spark: Any) -> None:
    frame = spark.createDataFrame([(1, [1.0], None)], "id long, v array<double>, t timestamp")
    assert not arrow_scoring_supported(frame, ["v"])
    assert not arrow_scoring_supported(frame, ["t"])
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
