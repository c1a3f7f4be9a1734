"""The Arrow scoring path hands the model what Spark's pandas UDF hands it, for every type.

The oracle is Spark itself: an iterator pandas UDF taking every feature, as the pandas-UDF
scoring path does, pickles what it receives; the same rows read through ``mapInArrow`` go
through :func:`feature_frame`. Both run in a non-UTC session time zone, so that converting a
TIMESTAMP in the wrong zone shows.
"""

from __future__ import annotations

import math
import pickle
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Tuple  # noqa: UP035 - Spark's UDF type inference needs typing.Tuple

import cloudpickle
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql.functions import pandas_udf

from spark_job.scoring.arrow_input import FeatureConverters, feature_frame
from spark_job.scoring.arrow_scorer import ArrowScorer, arrow_scoring_supported
from spark_job.scoring.model import model_input, ship_model
from spark_job.scoring.predictions import OutputColumns, Predictions, predictions_schema
from spark_job.scoring.results import result_fields
from spark_job.spec import ModelResult, ResultType
from tests.models import save_pyfunc

# Spark's Python workers unpickle this module's functions and model without importing tests.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TIME_ZONE = "America/Los_Angeles"

#: One column per Spark type; row 2 is all nulls, row 3 has nulls inside the nested values.
COLUMNS = {
    "byte": ["CAST(1 AS TINYINT)", "CAST(-3 AS TINYINT)"],
    "short": ["CAST(2 AS SMALLINT)", "CAST(-4 AS SMALLINT)"],
    "int": ["3", "-5"],
    "long": ["CAST(4 AS BIGINT)", "CAST(-6 AS BIGINT)"],
    "float": ["CAST(1.5 AS FLOAT)", "CAST('NaN' AS FLOAT)"],
    "double": ["2.5D", "-0.25D"],
    "decimal": ["CAST(3.25 AS DECIMAL(10, 2))", "CAST(-1.5 AS DECIMAL(10, 2))"],
    "string": ["'a'", "''"],
    "binary": ["X'0102'", "X''"],
    "boolean": ["true", "false"],
    "date": ["DATE'2020-01-02'", "DATE'1969-12-31'"],
    "timestamp": ["TIMESTAMP'2020-07-01 10:00:00.123456'", "TIMESTAMP'1969-12-31 23:30:00'"],
    "timestamp_ntz": ["TIMESTAMP_NTZ'2020-07-01 10:00:00.5'", "TIMESTAMP_NTZ'2021-01-01'"],
    "interval": ["INTERVAL '1 02:03:04.5' DAY TO SECOND", "INTERVAL '-3' HOUR"],
    "array_double": ["array(1.0D, 2.0D)", "array(CAST(NULL AS DOUBLE), 3.0D)"],
    "array_string": ["array('x', 'y')", "array(CAST(NULL AS STRING))"],
    "array_array": ["array(array(1, 2), array())", "array(CAST(NULL AS ARRAY<INT>), array(3))"],
    "struct": [
        "named_struct('i', 1, 's', 'x', 'd', DATE'2020-01-02',"
        " 't', TIMESTAMP'2020-07-01 10:00:00', 'a', array(1.0D))",
        "named_struct('i', CAST(NULL AS INT), 's', CAST(NULL AS STRING), 'd', DATE'1970-01-01',"
        " 't', CAST(NULL AS TIMESTAMP), 'a', CAST(NULL AS ARRAY<DOUBLE>))",
    ],
    "array_struct": [
        "array(named_struct('k', 1, 't', TIMESTAMP'2020-01-01 00:00:00'))",
        "array(CAST(NULL AS STRUCT<k: INT, t: TIMESTAMP>), named_struct('k', 2, 't', NULL))",
    ],
    "map_double": ["map('a', 1.0D, 'b', 2.0D)", "map('n', CAST(NULL AS DOUBLE))"],
    "map_array": ["map('a', array(1.0D, 2.0D))", "map('n', CAST(NULL AS ARRAY<DOUBLE>))"],
    "variant": ["parse_json('{\"a\": [1, 2]}')", "parse_json('null')"],
    "void": ["NULL", "NULL"],
}
STRUCTS = ["struct"]
#: Values without ``==`` (VariantVal): compared by :func:`_describe` only.
UNEQUAL = ["variant"]


def _types_frame(spark: Any) -> Any:
    rows = [
        f"({i}, {', '.join(values[j] for values in COLUMNS.values())})" for i, j in ((1, 0), (3, 1))
    ]
    nulls = f"(2, {', '.join('NULL' for _ in COLUMNS)})"
    names = ", ".join(["id", *COLUMNS])
    query = f"SELECT * FROM VALUES {rows[0]}, {nulls}, {rows[1]} AS t({names})"
    # One partition: each path sees the three rows in one batch, in order.
    return spark.sql(query).coalesce(1)


@pytest.fixture
def local_time(spark: Any) -> Iterator[str]:
    """The session in a time zone 7 or 8 hours from UTC."""
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", TIME_ZONE)
    yield TIME_ZONE
    spark.conf.set("spark.sql.session.timeZone", before)


def _udf_inputs(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:  # noqa: UP006
    """The oracle: what a pandas UDF of all the features receives, pickled in the first row."""
    for batch in batches:
        yield pd.Series([pickle.dumps(batch), *[None] * (len(batch[0]) - 1)])


def _arrow_inputs(converters: FeatureConverters, features: list[str]) -> Any:
    def inputs(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = feature_frame(batch, features, converters)
            yield pa.RecordBatch.from_pydict({"inputs": [pickle.dumps(frame)]})

    return inputs


def _describe(value: Any) -> Any:
    """``value`` with the type of every element spelled out (pandas' asserts compare the
    contents of object columns by ``==`` only: ``[1]`` equals ``np.array([1])``)."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, [_describe(v) for v in value.tolist()])
    if isinstance(value, dict):
        return ("dict", [(k, _describe(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if type(value).__name__ == "VariantVal":
        return ("VariantVal", value.value, value.metadata)
    return (type(value).__name__, value)


def _same_null(value: Any) -> Any:
    """A struct field as the UDF's DataFrame held it vs in our dict: nulls alike, numbers
    compared as numbers (the DataFrame widens an INT field with a null to float)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.ndarray):
        return _describe(value)
    return value


def test_feature_frame_matches_the_pandas_udf_for_every_type(spark: Any, local_time: str) -> None:
    frame = _types_frame(spark)
    features = list(COLUMNS)
    assert arrow_scoring_supported(frame, features)
    udf = pandas_udf(_udf_inputs, returnType="binary")  # type: ignore[call-overload]
    pickled = [r[0] for r in frame.select(udf(*features)).collect() if r[0] is not None]
    assert len(pickled) == 1
    oracle = dict(zip(features, pickle.loads(pickled[0]), strict=True))
    converters = FeatureConverters.for_frame(frame, features)
    assert converters.timezone == TIME_ZONE
    batches = frame.mapInArrow(_arrow_inputs(converters, features), "inputs binary").collect()
    assert len(batches) == 1
    ours = pickle.loads(batches[0][0])

    assert list(ours.columns) == features
    plain = [name for name in features if name not in STRUCTS]
    dates = frozenset({"date"})
    expected = model_input([oracle[name] for name in plain], plain, dates)
    comparable = [name for name in plain if name not in UNEQUAL]
    pd.testing.assert_frame_equal(ours[comparable], expected[comparable])
    for name in plain:
        assert ours[name].dtype == expected[name].dtype, name
        assert [_describe(v) for v in ours[name]] == [_describe(v) for v in expected[name]], name
    # Spot checks of what the oracle gave, so a Spark upgrade that changes it shows here too.
    assert ours["timestamp"].dtype == "datetime64[ns]"
    assert ours["timestamp"][0] == pd.Timestamp("2020-07-01 10:00:00.123456")  # local time
    assert ours["date"][0] == pd.Timestamp("2020-01-02")
    assert ours["int"].dtype == "float64" and ours["decimal"][0] == Decimal("3.25")
    assert isinstance(ours["array_array"][0], np.ndarray)

    for name in STRUCTS:  # the UDF's DataFrame of fields, as one dict per row
        fields = oracle[name]
        column = ours[name]
        assert isinstance(fields, pd.DataFrame) and column.dtype == object
        assert column[1] is None  # the null struct; the UDF's DataFrame has a row of nulls
        for row, value in enumerate(column):
            record = value if value is not None else dict.fromkeys(fields.columns)
            assert list(record) == list(fields.columns)
            assert [_same_null(v) for v in record.values()] == [
                _same_null(v) for v in fields.iloc[row]
            ]
    assert ours["struct"][0]["t"] == pd.Timestamp("2020-07-01 10:00:00")
    assert ours["struct"][2]["i"] is None


def test_features_spark_cannot_send_as_arrow_are_refused(spark: Any) -> None:
    frame = spark.sql(
        "SELECT 1 AS x, INTERVAL '1-2' YEAR TO MONTH AS ym, make_interval(1, 2) AS ci"
    )
    assert arrow_scoring_supported(frame.select("x"), ["x"])
    assert not arrow_scoring_supported(frame.select("x", "ci"), ["ci"])
    # pyarrow cannot open a batch holding a year-month interval, even one not scored.
    assert not arrow_scoring_supported(frame.select("x", "ym"), ["x"])


class DescribingModel(mlflow.pyfunc.PythonModel):
    """Describes, per row, the timestamp, array and struct features it was given."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        ts, values, record = (model_input[name] for name in ("ts", "values", "record"))
        assert ts.dtype == "datetime64[ns]"
        return [
            f"{'' if pd.isna(t) else t.isoformat()}"
            f"|{None if v is None else (type(v).__name__, v.tolist())}"
            f"|{None if r is None else sorted(r.items())}"
            for t, v, r in zip(ts, values, record, strict=True)
        ]


def test_arrow_scorer_scores_timestamp_array_and_struct_features(
    spark: Any, local_time: str, tmp_path: Path
) -> None:
    frame = spark.sql(
        "SELECT * FROM VALUES"
        " (1, TIMESTAMP'2021-03-14 01:30:00', array(1.5D, NULL), named_struct('k', 'a', 'n', 2)),"
        " (2, NULL, NULL, NULL) AS t(id, ts, values, record)"
    )
    features = ["ts", "values", "record"]
    assert arrow_scoring_supported(frame, features)
    save_pyfunc(str(tmp_path / "model"), python_model=DescribingModel())
    shipped = ship_model(spark, tmp_path / "model")
    result = ModelResult(ResultType.STRING)
    rows = spark.sparkContext.accumulator(0)
    scorer = ArrowScorer(
        shipped_name=shipped.name,
        features=features,
        converters=FeatureConverters.for_frame(frame, features),
        result=result,
        result_column="p",
        rows_predicted=rows,
        policy=None,
        keep=["id", *features],
    )
    schema = predictions_schema(frame, ["id", *features], result_fields(result, "p"))
    columns = OutputColumns(["id"], features, "p")
    scored = Predictions(frame, scorer, schema, columns).frame()
    got = {r["id"]: r["p"] for r in scored.collect()}
    assert got == {  # 01:30 in Los Angeles (09:30 UTC)
        1: "2021-03-14T01:30:00|('ndarray', [1.5, nan])|[('k', 'a'), ('n', 2)]",
        2: "|None|None",
    }
    assert rows.value == 2
    kept = ["id", *features]
    assert sorted(scored.select(kept).collect()) == sorted(frame.select(kept).collect())
