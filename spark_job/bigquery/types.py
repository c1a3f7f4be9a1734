"""BigQuery column types as Spark types, following the spark-bigquery connector's table.

| BigQuery | Spark |
|---|---|
| INT64 | long | FLOAT64 | double | NUMERIC | decimal(38,9) | BOOL | boolean |
| STRING, JSON, GEOGRAPHY, BIGNUMERIC | string | BYTES | binary | DATE | date |
| DATETIME | timestamp_ntz | TIMESTAMP | timestamp | TIME | long (microseconds of the day) |
| ARRAY<T> (REPEATED) | array<T> | STRUCT (RECORD) | struct |

BIGNUMERIC's 76 digits do not fit Spark's decimal(38); it is read as its exact decimal text.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

_SCALARS: dict[str, DataType] = {
    "INT64": LongType(),
    "INTEGER": LongType(),
    "FLOAT64": DoubleType(),
    "FLOAT": DoubleType(),
    "NUMERIC": DecimalType(38, 9),
    "DECIMAL": DecimalType(38, 9),
    "BIGNUMERIC": StringType(),
    "BIGDECIMAL": StringType(),
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


def spark_type(field: Any) -> DataType:
    """The Spark type of a ``google.cloud.bigquery.SchemaField``."""
    kind = field.field_type.upper()
    if kind in ("RECORD", "STRUCT"):
        element: DataType = spark_schema(field.fields)
    elif kind in _SCALARS:
        element = _SCALARS[kind]
    else:
        element = StringType()
    return ArrayType(element, True) if field.mode == "REPEATED" else element


def spark_schema(fields: Sequence[Any]) -> StructType:
    return StructType([StructField(f.name, spark_type(f), f.mode != "REQUIRED") for f in fields])
