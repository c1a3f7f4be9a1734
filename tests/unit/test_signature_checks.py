"""The input against the model's signature, without Spark: type rules (pinned to MLflow's own
enforcement), every mismatch kind, the conversions, ``model.params``."""

from __future__ import annotations

import decimal
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import Array
from pyspark.sql import types as T

from spark_job.errors import UserError
from spark_job.scoring.signature import check_params
from spark_job.scoring.signature_checks import Fit, compare, fit, null_candidates
from spark_job.spec import parse_spec_text
from tests.models import save_pyfunc

#: A column of each Spark type as the scorer hands it to the model (what MLflow judges).
SAMPLES = {
    T.ByteType(): pd.Series([1, 0], dtype="int8"),
    T.ShortType(): pd.Series([1, 0], dtype="int16"),
    T.IntegerType(): pd.Series([1, 0], dtype="int32"),
    T.LongType(): pd.Series([1, 2], dtype="int64"),
    T.FloatType(): pd.Series([1.5, 2], dtype="float32"),
    T.DoubleType(): pd.Series([1.5, 2.0]),
    T.DecimalType(10, 2): pd.Series([decimal.Decimal("1.5")]),
    T.BooleanType(): pd.Series([True, False]),
    T.BinaryType(): pd.Series([b"x", b"y"]),
    T.DateType(): pd.to_datetime(pd.Series(["2024-01-02"])),
    T.TimestampType(): pd.to_datetime(pd.Series(["2024-01-02 10:00"])),
    T.ArrayType(T.LongType()): pd.Series([np.array([1, 2]), np.array([3])], dtype=object),
    T.MapType(T.StringType(), T.LongType()): pd.Series([{"a": 1}], dtype=object),
    T.StructType([T.StructField("a", T.LongType())]): pd.Series([{"a": 1}], dtype=object),
    T.NullType(): pd.Series([None, None], dtype=object),
}
#: Text as it would be for each signature type (numbers for double, ISO dates for datetime).
TEXT = {"datetime": ["2024-01-02"], "double": ["1.5"], "boolean": ["true"]}


def _mlflow_accepts(values: pd.Series, data_type: DataType) -> bool:
    from mlflow.models.utils import _enforce_mlflow_datatype

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _enforce_mlflow_datatype("c", values.copy(), data_type)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("data_type", list(DataType), ids=lambda t: t.name)
def test_rules_match_mlflow_enforcement(data_type: DataType) -> None:
    """OK exactly where MLflow takes the column; LOSSY/REFUSED exactly where it refuses it;
    CONVERT where the job casts first (MLflow may or may not have taken it)."""
    samples = {**SAMPLES, T.StringType(): pd.Series(TEXT.get(data_type.name, ["1"]), dtype=object)}
    for spark_type, values in samples.items():
        verdict = fit(spark_type, data_type)
        if verdict is Fit.CONVERT:
            continue
        accepted = _mlflow_accepts(values, data_type)
        assert (verdict is Fit.OK) == accepted, (spark_type, data_type.name, verdict)


def test_conversions_and_refusals() -> None:
    assert fit(T.IntegerType(), DataType.long) is Fit.CONVERT
    assert fit(T.FloatType(), DataType.double) is Fit.CONVERT
    assert fit(T.StringType(), DataType.datetime) is Fit.CONVERT
    assert fit(T.DateType(), DataType.datetime) is Fit.OK  # the scorer makes it datetime64
    assert fit(T.LongType(), DataType.double) is Fit.LOSSY
    assert fit(T.DoubleType(), DataType.long) is Fit.LOSSY
    assert fit(T.StringType(), DataType.long) is Fit.LOSSY
    assert fit(T.DateType(), DataType.long) is Fit.REFUSED
    assert fit(T.ArrayType(T.DoubleType()), Array(DataType.double)) is Fit.OK
    assert fit(T.DoubleType(), Array(DataType.double)) is Fit.REFUSED


INPUTS = Schema([
    ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("long", "c"), ColSpec("long", "n"),
    ColSpec("long", "d"), ColSpec("long", "gone"), ColSpec("double", "maybe", required=False),
    ColSpec("long", "i"), ColSpec("double", "f"), ColSpec("datetime", "s"),
    ColSpec("datetime", "day"),
])  # fmt: skip
SCHEMA = T.StructType([
    T.StructField("key", T.StringType()), T.StructField("a", T.LongType()),
    T.StructField("b", T.DoubleType()), T.StructField("c", T.StringType()),
    T.StructField("n", T.LongType()), T.StructField("d", T.DateType()),
    T.StructField("i", T.IntegerType(), nullable=False), T.StructField("f", T.FloatType()),
    T.StructField("s", T.StringType()), T.StructField("day", T.DateType()),
])  # fmt: skip
FEATURES = ["a", "b", "c", "n", "d", "i", "f", "s", "day"]


def test_every_mismatch_kind_at_once() -> None:
    plan = compare(SCHEMA, FEATURES, INPUTS, with_nulls=frozenset({"n"}), passthrough=["key"])
    lines = {m.column: m.line() for m in plan.mismatches}
    assert set(lines) == {"a", "b", "c", "n", "d", "gone"}  # 'maybe' is optional
    assert lines["a"].startswith("column 'a': bigint in the input, double in the signature:")
    assert "MLflow refuses int64 for a double input" in lines["a"]
    assert "model.options.castInputs: true casts it" in lines["a"]
    assert "double in the input, long in the signature" in lines["b"]
    assert "string in the input, long in the signature" in lines["c"]
    assert "bigint with NULLs in the input, long in the signature" in lines["n"]
    assert "castInputs" not in lines["n"]
    assert "date in the input, long in the signature" in lines["d"]
    assert "no cast makes it one" in lines["d"] and "castInputs" not in lines["d"]
    assert "column 'gone': missing in the input, long in the signature" in lines["gone"]
    assert plan.casts == {"i": T.LongType(), "f": T.DoubleType(), "s": T.TimestampType()}


def test_cast_inputs_casts_what_mlflow_refuses() -> None:
    schema = T.StructType([T.StructField("a", T.LongType()), T.StructField("b", T.DoubleType())])
    inputs = Schema([ColSpec("double", "a"), ColSpec("long", "b")])
    assert len(compare(schema, ["a", "b"], inputs).mismatches) == 2
    plan = compare(schema, ["a", "b"], inputs, cast_inputs=True)
    assert plan.mismatches == [] and plan.casts == {"a": T.DoubleType(), "b": T.LongType()}


def test_passed_through_input_is_named_so() -> None:
    plan = compare(SCHEMA, ["a"], Schema([ColSpec("string", "key")]), passthrough=["key"])
    assert "passed through, never given to the model" in plan.mismatches[0].line()


def test_unnamed_signature_compares_by_position() -> None:
    inputs = Schema([ColSpec("double"), ColSpec("long")])
    plan = compare(SCHEMA, ["b", "a"], inputs)
    assert plan.mismatches == []
    plan = compare(SCHEMA, ["b"], inputs)
    assert [m.column for m in plan.mismatches] == ["#2"]


def test_null_candidates_are_nullable_integer_inputs() -> None:
    # long inputs from nullable columns (castInputs may cast b and c; NULLs would stay); not
    # i (declared NOT NULL), d (a date: refused anyway), a (a double input)
    assert null_candidates(SCHEMA, FEATURES, INPUTS) == ["b", "c", "n"]


PARAMS = ParamSchema([
    ParamSpec("k", "long", 3), ParamSpec("t", "double", 0.5), ParamSpec("name", "string", "x"),
])  # fmt: skip


def test_params_merged_over_defaults() -> None:
    assert check_params({"k": 5, "t": 1}, PARAMS) == {"k": 5, "t": 1.0, "name": "x"}
    assert check_params({}, PARAMS) == {"k": 3, "t": 0.5, "name": "x"}
    assert check_params({}, None) is None


def test_unknown_and_mistyped_params() -> None:
    with pytest.raises(UserError, match=r"model\.params\.kk: not a param .* Did you mean 'k'\?"):
        check_params({"kk": 1}, PARAMS)
    with pytest.raises(UserError, match="Params it takes: k, name, t."):
        check_params({"zzz": 1}, PARAMS)
    with pytest.raises(UserError, match=r"model\.params\.k: '5' is not a long"):
        check_params({"k": "5"}, PARAMS)
    with pytest.raises(UserError, match=r"model\.params\.k: 5\.5 is not a long"):
        check_params({"k": 5.5}, PARAMS)
    with pytest.raises(UserError, match="declares no params"):
        check_params({"k": 1}, None)


def _spec(model: str) -> str:
    source, sink = "{format: PARQUET, uri: /in}", "{format: JSON, uri: /o}"
    return f"gcsSource: {source}\nmodel: {model}\ngcsSink: {sink}"


def test_spec_model_params_and_options() -> None:
    spec = parse_spec_text(
        _spec("{uri: /m, params: {k: 5, w: [1, 2]}, options: {castInputs: true}}")
    )
    assert spec.model.params == {"k": 5, "w": [1, 2]}
    assert spec.model.typed_options.cast_inputs is True
    assert parse_spec_text(_spec("{uri: /m}")).model.typed_options.cast_inputs is False
    with pytest.raises(UserError, match=r"model\.options\.castInput: .*Did you mean 'castInputs'"):
        parse_spec_text(_spec("{uri: /m, options: {castInput: true}}"))
    merlins = parse_spec_text(_spec("{uri: /m, options: {servingTimeout: '30'}}"))
    assert merlins.model.typed_options.passthrough == {"servingTimeout": "30"}  # kept, unused
    with pytest.raises(UserError, match=r"model\.options\.castInputs: expected true or false"):
        parse_spec_text(_spec("{uri: /m, options: {castInputs: maybe}}"))
    with pytest.raises(UserError, match=r"model\.params\.k: no value given"):
        parse_spec_text(_spec("{uri: /m, params: {k: }}"))


def test_plan_model_reads_the_signature_without_loading(tmp_path: Path) -> None:
    from mlflow.models import ModelSignature

    from spark_job.scoring.signature import plan_model
    from spark_job.spec import ModelSpec
    from tests.models import ProbeModel

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "x"), ColSpec("long", "y", required=False)]),
        outputs=Schema([ColSpec("double")]),
        params=PARAMS,
    )
    save_pyfunc(str(tmp_path / "m"), python_model=ProbeModel("sum"), signature=signature)
    (tmp_path / "m" / "python_model.pkl").write_bytes(b"not a pickle")  # never loaded
    plan = plan_model(ModelSpec(uri=str(tmp_path / "m"), params={"t": 2}))
    assert plan.signature_features == ["x", "y"]
    assert plan.params == {"k": 3, "t": 2.0, "name": "x"}
    with pytest.raises(UserError, match=r"model\.params\.q: not a param"):
        plan_model(ModelSpec(uri=str(tmp_path / "m"), params={"q": 2}))
