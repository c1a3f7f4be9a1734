"""BigQuery column types as Spark types, following the spark-bigquery connector's table.

| BigQuery | Spark |
|---|---|
| INT64 | long |
| FLOAT64 | double |
| NUMERIC, NUMERIC(P,S) | decimal(38,9), decimal(P,S) |
| BIGNUMERIC(P,S), P ≤ 38 | decimal(P,S) (unparameterized: ``bigNumericDefaultPrecision/Scale``) |
| BOOL | boolean |
| STRING, GEOGRAPHY | string |
| JSON | string (field metadata ``sqlType: JSON``, as the connector) |
| BYTES | binary |
| DATE | date |
| DATETIME | timestamp_ntz |
| TIMESTAMP | timestamp |
| TIME | long (microseconds of the day) |
| ARRAY<T> (REPEATED) | array<T> |
| STRUCT (RECORD) | struct |
| REPEATED RECORD<key REQUIRED, value> | map<key, value> (``allowMapTypeConversion``: true) |

BIGNUMERIC's default 76 digits do not fit Spark's decimal(38): as with the connector, such a
column is an error unless the type is parameterized or the two options narrow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark_job.errors import UserError
from spark_job.spec.options import BIGNUMERIC_DEFAULT

_SCALARS: dict[str, DataType] = {
    "INT64": LongType(),
    "INTEGER": LongType(),
    "FLOAT64": DoubleType(),
    "FLOAT": DoubleType(),
    "BOOL": BooleanType(),
    "BOOLEAN": BooleanType(),
    "STRING": StringType(),
    "JSON": StringType(),
    "GEOGRAPHY": StringType(),
    "BYTES": BinaryType(),
    "DATE": DateType(),
    "DATETIME": TimestampNTZType(),
    "TIMESTAMP": TimestampType(),
    "TIME": LongType(),
}
_NUMERIC = ("NUMERIC", "DECIMAL")
_BIGNUMERIC = ("BIGNUMERIC", "BIGDECIMAL")
_RECORD = ("RECORD", "STRUCT")
NUMERIC_DEFAULT = (38, 9)
SPARK_MAX_PRECISION = 38


@dataclass(frozen=True)
class TypeOptions:
    """The connector's read options that change how types map (typed in spec/options.py);
    ``field`` names the source in errors."""

    field: str = "bigquerySource"
    big_numeric_precision: int = BIGNUMERIC_DEFAULT[0]
    big_numeric_scale: int = BIGNUMERIC_DEFAULT[1]
    map_type_conversion: bool = True


def _decimal(field: Any, default: tuple[int, int]) -> tuple[int, int]:
    """Precision and scale of a (BIG)NUMERIC column; a missing parameter follows the default's
    digits left of the point, as BigQuery's parameterized types do."""
    precision, scale = field.precision, field.scale
    if precision is not None and scale is not None:
        return int(precision), int(scale)
    left = default[0] - default[1]
    if precision is not None:
        return int(precision), max(0, int(precision) - left)
    if scale is not None:
        return int(scale) + left, int(scale)
    return default


def _map_parts(field: Any) -> tuple[Any, Any] | None:
    """(key, value) subfields when a REPEATED RECORD is the connector's encoding of a map."""
    if field.mode != "REPEATED" or field.field_type.upper() not in _RECORD:
        return None
    by_name = {sub.name: sub for sub in field.fields}
    if len(by_name) != 2 or set(by_name) != {"key", "value"}:
        return None
    if by_name["key"].mode != "REQUIRED":
        return None
    return by_name["key"], by_name["value"]


def _element_type(field: Any, options: TypeOptions, path: str) -> DataType:
    kind = field.field_type.upper()
    if kind in _RECORD:
        return StructType(
            [_struct_field(sub, options, f"{path}.{sub.name}") for sub in field.fields]
        )
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind in _NUMERIC:
        return DecimalType(*_decimal(field, NUMERIC_DEFAULT))
    if kind in _BIGNUMERIC:
        default = (options.big_numeric_precision, options.big_numeric_scale)
        precision, scale = _decimal(field, default)
        if precision > SPARK_MAX_PRECISION or scale > SPARK_MAX_PRECISION:
            raise UserError(
                f"{options.field}: column '{path}' is BIGNUMERIC({precision},{scale}), wider than"
                f" Spark's decimals (precision at most {SPARK_MAX_PRECISION}). If its values fit,"
                f" set {options.field}.options.bigNumericDefaultPrecision and"
                " bigNumericDefaultScale (as with the connector)."
            )
        return DecimalType(precision, scale)
    raise UserError(f"{options.field}: column '{path}' has type {kind}, which Spark cannot read.")


def spark_type(field: Any, options: TypeOptions | None = None, path: str = "") -> DataType:
    """The Spark type of a ``google.cloud.bigquery.SchemaField``."""
    options = options or TypeOptions()
    path = path or field.name
    parts = _map_parts(field) if options.map_type_conversion else None
    if parts is not None:
        key, value = parts
        return MapType(
            _element_type(key, options, f"{path}.key"),
            _element_type(value, options, f"{path}.value"),
            value.mode != "REQUIRED",
        )
    element = _element_type(field, options, path)
    return ArrayType(element, True) if field.mode == "REPEATED" else element


def _struct_field(field: Any, options: TypeOptions, path: str) -> StructField:
    metadata = {"sqlType": "JSON"} if field.field_type.upper() == "JSON" else None
    data_type = spark_type(field, options, path)
    return StructField(field.name, data_type, field.mode != "REQUIRED", metadata)


def spark_schema(fields: Sequence[Any], options: TypeOptions | None = None) -> StructType:
    """The Spark schema of BigQuery ``fields`` (a table's schema, or the selected columns)."""
    options = options or TypeOptions()
    return StructType([_struct_field(f, options, f.name) for f in fields])
