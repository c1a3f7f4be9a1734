"""Turning whatever a model's ``predict`` returns into a column of the declared result type."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from spark_job.spec import ModelResult, ResultType

SCALAR_SPARK_TYPES: dict[ResultType, DataType] = {
    ResultType.DOUBLE: DoubleType(),
    ResultType.FLOAT: FloatType(),
    ResultType.INTEGER: IntegerType(),
    ResultType.LONG: LongType(),
    ResultType.STRING: StringType(),
}

_NUMPY_DTYPES: dict[ResultType, Any] = {
    ResultType.DOUBLE: np.float64,
    ResultType.FLOAT: np.float32,
    ResultType.INTEGER: np.int32,
    ResultType.LONG: np.int64,
}


class ModelOutputError(ValueError):
    """The model's output does not fit ``model.result``; raised inside a Spark task.

    The runner recognises this class name in the task failure and reports the message as a
    user error (exit 2).
    """


def result_spark_type(result: ModelResult) -> DataType:
    """The Spark type of a resolved result (see :mod:`spark_job.scoring.result_types`)."""
    if result.type is ResultType.ARRAY:
        assert result.item_type is not None
        return ArrayType(SCALAR_SPARK_TYPES[result.item_type])
    if result.type is ResultType.STRUCT:
        return StructType(
            [StructField(f.name, SCALAR_SPARK_TYPES[f.type], True) for f in result.fields]
        )
    return SCALAR_SPARK_TYPES[result.type]


def result_fields(result: ModelResult, name: str) -> list[StructField]:
    """The output's result column ``name`` (nullable: a model may return None), or with
    ``flatten`` one column ``<name>_<field>`` per field of the STRUCT."""
    if result.flatten:
        return [
            StructField(f"{name}_{f.name}", SCALAR_SPARK_TYPES[f.type], True) for f in result.fields
        ]
    return [StructField(name, result_spark_type(result), nullable=True)]


def _plain(values: pd.Series) -> Any:
    """Values pyarrow converts directly: numpy for numbers, lists for objects."""
    return values.to_numpy() if values.dtype != object else values.tolist()


def result_arrow_type(result: ModelResult) -> pa.DataType:
    """The Arrow type of a resolved result (once per task, not per batch)."""
    return to_arrow_type(result_spark_type(result))


def result_arrays(
    values: pd.Series, result: ModelResult, name: str, arrow_type: pa.DataType
) -> list[tuple[str, pa.Array]]:
    """The result columns (name, Arrow array of ``arrow_type``, see :func:`result_arrow_type`)
    of converted ``values``, as :func:`result_fields` names them."""
    array = pa.array(_plain(values), type=arrow_type, from_pandas=True)
    if not result.flatten:
        return [(name, array)]
    return [(f"{name}_{f.name}", array.field(i)) for i, f in enumerate(result.fields)]


def _describe(output: Any) -> str:
    shape = getattr(output, "shape", None)
    return f"{type(output).__name__}{'' if shape is None else f' of shape {shape}'}"


def _scalar_values(output: Any, rows: int) -> np.ndarray | pd.Series:
    if isinstance(output, pd.DataFrame):
        if output.shape[1] != 1:
            raise ModelOutputError(
                f"model.result.type: the model returned {output.shape[1]} columns per row"
                " but a scalar result was declared; declare type ARRAY or return one column."
            )
        output = output.iloc[:, 0]
    if isinstance(output, pd.Series):
        values: np.ndarray | pd.Series = output.reset_index(drop=True)
    else:
        values = np.asarray(output)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ModelOutputError(
                f"model.result.type: the model returned {_describe(output)} but a scalar"
                " result was declared; declare type ARRAY for several values per row."
            )
    if len(values) != rows:
        raise ModelOutputError(
            f"model: the model returned {len(values)} predictions for {rows} rows."
        )
    return values


def _cast_scalar(values: np.ndarray | pd.Series, kind: ResultType, field: str) -> pd.Series:
    series = pd.Series(values, copy=False)
    if kind is ResultType.STRING:
        return series.map(lambda v: None if v is None or v is pd.NA else str(v)).astype(object)
    target = _NUMPY_DTYPES[kind]
    try:
        if kind in (ResultType.INTEGER, ResultType.LONG):
            numeric = pd.to_numeric(series)
            if numeric.isna().any():
                raise ValueError("a prediction is missing (null or NaN)")
            if not np.all(np.mod(numeric.to_numpy(dtype=np.float64), 1) == 0):
                bad = numeric[np.mod(numeric.to_numpy(dtype=np.float64), 1) != 0].iloc[0]
                raise ValueError(f"{bad!r} is not a whole number")
            return numeric.astype(target)
        if series.dtype == target:
            return series
        return pd.to_numeric(series).astype(target)
    except (ValueError, TypeError) as error:
        sample = series.iloc[0] if len(series) else None
        raise ModelOutputError(
            f"{field}: the model's output ({series.dtype}, e.g. {sample!r}) cannot be"
            f" converted to {kind.value}: {error}"
        ) from None


def _array_rows(output: Any, rows: int) -> list[Any]:
    if isinstance(output, pd.DataFrame):
        return list(output.to_numpy())
    if isinstance(output, pd.Series):
        return list(output)
    values = np.asarray(output, dtype=object) if isinstance(output, list) else np.asarray(output)
    if values.ndim == 1 and rows and not isinstance(values[0], list | tuple | np.ndarray):
        raise ModelOutputError(
            "model.result.type: ARRAY was declared but the model returned one scalar per row;"
            " declare a scalar type instead."
        )
    return list(values)


def _struct_frame(output: Any, names: list[str]) -> pd.DataFrame:
    """The model's output as a frame of the STRUCT's fields: a DataFrame (or a dict of columns,
    or records) by name, or a 2-D array with one column per field, in order."""
    if isinstance(output, pd.DataFrame):
        frame = output
    elif isinstance(output, dict) or (isinstance(output, list) and output and
                                      isinstance(output[0], dict)):  # fmt: skip
        frame = pd.DataFrame(output)
    else:
        values = np.asarray(output)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ModelOutputError(
                f"model.result.type: STRUCT of {', '.join(names)} was declared but the model"
                f" returned {_describe(output)}; return a DataFrame with those columns."
            )
        frame = pd.DataFrame(values, columns=names)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ModelOutputError(
            f"model.result.fields: the model's output has no column {', '.join(missing)}"
            f" (it has {', '.join(map(str, frame.columns))})."
        )
    return frame


def _struct_rows(output: Any, result: ModelResult, rows: int) -> pd.Series:
    frame = _struct_frame(output, [f.name for f in result.fields])
    if len(frame) != rows:
        raise ModelOutputError(
            f"model: the model returned {len(frame)} predictions for {rows} rows."
        )
    columns = {
        f.name: _cast_scalar(frame[f.name].reset_index(drop=True).to_numpy(), f.type,
                             f"model.result.fields.{f.name}")
        for f in result.fields
    }  # fmt: skip
    records = pd.DataFrame(columns).astype(object).where(pd.DataFrame(columns).notna(), None)
    return pd.Series(records.to_dict("records"), dtype=object)


def to_result_series(output: Any, result: ModelResult, rows: int) -> pd.Series:
    """Convert a model's output for ``rows`` input rows to a pandas Series of ``result``'s type.

    Raises :class:`ModelOutputError` naming ``model.result.type`` when it cannot.
    """
    if result.type is ResultType.STRUCT:
        return _struct_rows(output, result, rows)
    if result.type is not ResultType.ARRAY:
        return _cast_scalar(_scalar_values(output, rows), result.type, "model.result.type")
    assert result.item_type is not None
    items = _array_rows(output, rows)
    if len(items) != rows:
        raise ModelOutputError(
            f"model: the model returned {len(items)} predictions for {rows} rows."
        )
    converted = [
        None
        if item is None
        else list(_cast_scalar(np.asarray(item).ravel(), result.item_type, "model.result.itemType"))
        for item in items
    ]
    return pd.Series(converted, dtype=object)
