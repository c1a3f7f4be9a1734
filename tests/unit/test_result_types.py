"""``model.result`` from the model's output schema, and STRUCT results (no Spark needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, Schema, TensorSpec

from spark_job.errors import UserError
from spark_job.scoring.result_types import resolve_result
from spark_job.scoring.results import (
    ModelOutputError,
    result_arrays,
    result_arrow_type,
    to_result_series,
)
from spark_job.spec import ModelResult, ResultField, ResultType, parse_spec_text

LABEL_AND_PROBABILITY = Schema([ColSpec("string", "label"), ColSpec("double", "probability")])
STRUCT = ModelResult(
    ResultType.STRUCT,
    fields=(ResultField("label", ResultType.STRING), ResultField("probability", ResultType.DOUBLE)),
)


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (None, ModelResult(ResultType.DOUBLE)),  # no output schema: Merlin's default
        (Schema([ColSpec("long")]), ModelResult(ResultType.LONG)),
        (Schema([ColSpec("string", "label")]), ModelResult(ResultType.STRING)),
        (Schema([TensorSpec(np.dtype("float32"), (-1,))]), ModelResult(ResultType.FLOAT)),
        (
            Schema([TensorSpec(np.dtype("float64"), (-1, 3))]),
            ModelResult(ResultType.ARRAY, ResultType.DOUBLE),
        ),
        (LABEL_AND_PROBABILITY, STRUCT),
    ],
)
def test_auto_follows_the_output_schema(outputs: Schema | None, expected: ModelResult) -> None:
    assert resolve_result(ModelResult(), outputs) == expected


def test_a_declared_type_stands_and_a_struct_takes_its_fields_from_the_schema() -> None:
    declared = ModelResult(ResultType.STRING)
    assert resolve_result(declared, LABEL_AND_PROBABILITY) is declared
    assert resolve_result(ModelResult(ResultType.STRUCT), LABEL_AND_PROBABILITY) == STRUCT


@pytest.mark.parametrize(
    ("result", "outputs", "message"),
    [
        (ModelResult(ResultType.STRUCT), None, r"model\.result\.fields: required for type STRUCT"),
        (ModelResult(flatten=True), Schema([ColSpec("double")]), r"model\.result\.flatten: only"),
        (ModelResult(), Schema([ColSpec("boolean", "ok")]), r"model\.result\.type: .*'ok'"),
    ],
)
def test_results_that_cannot_be_made(
    result: ModelResult, outputs: Schema | None, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        resolve_result(result, outputs)


def _spec(result: str) -> str:
    return f"""
gcsSource: {{format: JSON, uri: /in}}
model: {{uri: /model, result: {result}}}
gcsSink: {{format: JSON, uri: /out}}
"""


def test_the_spec_takes_struct_fields_and_flatten() -> None:
    spec = parse_spec_text(_spec("{fields: [{name: label, type: STRING}], flatten: true}"))
    assert spec.model.result == ModelResult(
        ResultType.STRUCT, fields=(ResultField("label", ResultType.STRING),), flatten=True
    )
    assert parse_spec_text(_spec("{}")).model.result.type is ResultType.AUTO


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ("{type: STRUCT, fields: [{name: a, type: ARRAY}]}", r"fields\[0\]\.type: ARRAY is not"),
        ("{type: DOUBLE, fields: [{name: a, type: LONG}]}", r"fields: only for type STRUCT"),
        ("{type: STRUCT, fields: [{name: a, type: LONG}, {name: a, type: LONG}]}", "twice"),
        ("{type: DOUBLE, flatten: true}", r"model\.result\.flatten: only for type STRUCT"),
        ("{type: STRUCT, flatten: maybe}", r"model\.result\.flatten: expected true or false"),
    ],
)
def test_bad_struct_specs(result: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_spec_text(_spec(result))


def test_struct_values_from_a_frame_records_or_an_array() -> None:
    frame = pd.DataFrame({"probability": [0.9, np.nan], "label": ["a", None], "extra": [1, 2]})
    expected = [{"label": "a", "probability": 0.9}, {"label": None, "probability": None}]
    assert to_result_series(frame, STRUCT, 2).tolist() == expected
    assert to_result_series(frame.to_dict("records"), STRUCT, 2).tolist() == expected
    pairs = ModelResult(
        ResultType.STRUCT,
        fields=(ResultField("x", ResultType.LONG), ResultField("y", ResultType.DOUBLE)),
    )
    assert to_result_series(np.array([[1, 2.5]]), pairs, 1).tolist() == [{"x": 1, "y": 2.5}]


def test_struct_outputs_that_do_not_fit() -> None:
    with pytest.raises(ModelOutputError, match=r"model\.result\.fields: .*no column label"):
        to_result_series(pd.DataFrame({"probability": [0.5]}), STRUCT, 1)
    with pytest.raises(ModelOutputError, match="STRUCT of label, probability was declared"):
        to_result_series(np.array([0.5]), STRUCT, 1)
    with pytest.raises(ModelOutputError, match="returned 1 predictions for 2 rows"):
        to_result_series(pd.DataFrame({"label": ["a"], "probability": [0.5]}), STRUCT, 2)


def test_struct_arrays_one_column_or_flattened() -> None:
    values = pd.Series([{"label": "a", "probability": 0.25}], dtype=object)
    [(name, array)] = result_arrays(values, STRUCT, "prediction", result_arrow_type(STRUCT))
    assert name == "prediction" and array.to_pylist() == [{"label": "a", "probability": 0.25}]
    flat = ModelResult(ResultType.STRUCT, fields=STRUCT.fields, flatten=True)
    arrays = result_arrays(values, flat, "p", result_arrow_type(flat))
    columns = {name: array.to_pylist() for name, array in arrays}
    assert columns == {"p_label": ["a"], "p_probability": [0.25]}
