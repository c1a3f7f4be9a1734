"""``model.result`` made concrete from the model's output schema (MLflow signature).

``AUTO`` (the default when the spec gives no ``result.type``) becomes: with no output schema,
DOUBLE (Merlin's default); one output column, its type (an array column: ARRAY of its items);
several named outputs, a STRUCT of them. A STRUCT without ``fields`` takes them from the output
schema. Runs on the driver before any task scores; every problem is a UserError naming the
``model.result`` field.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from spark_job.errors import UserError
from spark_job.spec import ModelResult, ResultField, ResultType

FIELD = "model.result"

#: MLflow column types (``mlflow.types.DataType`` names) and NumPy tensor kinds → result types.
_COLUMN_TYPES = {
    "double": ResultType.DOUBLE,
    "float": ResultType.FLOAT,
    "integer": ResultType.INTEGER,
    "long": ResultType.LONG,
    "string": ResultType.STRING,
}
_TENSOR_TYPES = {
    "float64": ResultType.DOUBLE,
    "float32": ResultType.FLOAT,
    "int32": ResultType.INTEGER,
    "int64": ResultType.LONG,
    "int16": ResultType.INTEGER,
    "int8": ResultType.INTEGER,
    "object": ResultType.STRING,
    "str": ResultType.STRING,
}


def read_output_schema(model_dir: Path) -> Any:
    """The output schema of the model's signature (an ``mlflow.types.Schema``), or None. Reads
    ``MLmodel`` only: the model itself is not loaded."""
    from mlflow.models import Model

    signature = Model.load(str(Path(model_dir) / "MLmodel")).signature
    return signature.outputs if signature is not None else None


def _spec_name(spec: Any, index: int) -> str:
    return getattr(spec, "name", None) or f"output {index}"


def _output_type(spec: Any, index: int) -> tuple[ResultType, ResultType | None]:
    """(type, item type) of one output column or tensor of the schema."""
    from mlflow.types import TensorSpec

    name = _spec_name(spec, index)
    if isinstance(spec, TensorSpec):
        kind = _TENSOR_TYPES.get(spec.type.name)
        if kind is None:
            raise UserError(
                f"{FIELD}.type: the model's output '{name}' is a {spec.type.name} tensor, which no"
                f" result type holds; give {FIELD}.type."
            )
        dims = [d for d in (spec.shape or ())[1:] if d != 1]
        return (ResultType.ARRAY, kind) if dims else (kind, None)
    type_name = getattr(spec.type, "name", None)
    if type_name in _COLUMN_TYPES:
        return _COLUMN_TYPES[type_name], None
    items = getattr(getattr(spec.type, "dtype", None), "name", None)  # an mlflow Array
    if items in _COLUMN_TYPES:
        return ResultType.ARRAY, _COLUMN_TYPES[items]
    raise UserError(
        f"{FIELD}.type: the model's output '{name}' is {spec.type}, which no result type holds;"
        f" give {FIELD}.type (one of DOUBLE, FLOAT, INTEGER, LONG, STRING, ARRAY, STRUCT)."
    )


def _struct_fields(outputs: Any) -> tuple[ResultField, ...]:
    fields = []
    for index, spec in enumerate(outputs.inputs):
        kind, _items = _output_type(spec, index)
        if kind is ResultType.ARRAY:
            raise UserError(
                f"{FIELD}.fields: the model's output '{_spec_name(spec, index)}' is an array;"
                " STRUCT fields hold one value each. Give model.result.type."
            )
        fields.append(ResultField(_spec_name(spec, index), kind))
    return tuple(fields)


def resolve_result(result: ModelResult, outputs: Any) -> ModelResult:
    """``result`` with AUTO and a STRUCT's missing fields filled in from ``outputs`` (the
    output schema, or None)."""
    named = outputs is not None and outputs.has_input_names() and len(outputs.inputs) > 1
    if result.type is ResultType.AUTO:
        if outputs is None:
            resolved = replace(result, type=ResultType.DOUBLE)
        elif named:
            resolved = replace(result, type=ResultType.STRUCT, fields=_struct_fields(outputs))
        else:
            kind, items = _output_type(outputs.inputs[0], 0)
            resolved = replace(result, type=kind, item_type=items)
    elif result.type is ResultType.STRUCT and not result.fields:
        if not named:
            raise UserError(
                f"{FIELD}.fields: required for type STRUCT when the model's signature has no"
                " output schema of several named columns; give [{name, type}, ...]."
            )
        resolved = replace(result, fields=_struct_fields(outputs))
    else:
        resolved = result
    if resolved.flatten and resolved.type is not ResultType.STRUCT:
        raise UserError(
            f"{FIELD}.flatten: only for STRUCT results; this model's result is"
            f" {resolved.type.value}."
        )
    return resolved
