"""Spark schemas as BigQuery schemas, for an explicit load-job schema and APPEND checks."""

from __future__ import annotations

from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark_job.errors import UserError

_SCALARS: list[tuple[type[DataType], str]] = [
    (BooleanType, "BOOL"),
    (ByteType, "INT64"),
    (ShortType, "INT64"),
    (IntegerType, "INT64"),
    (LongType, "INT64"),
    (FloatType, "FLOAT64"),
    (DoubleType, "FLOAT64"),
    (StringType, "STRING"),
    (BinaryType, "BYTES"),
    (DateType, "DATE"),
    (TimestampType, "TIMESTAMP"),
    (TimestampNTZType, "DATETIME"),
]

#: BigQuery's legacy names, as ``SchemaField.field_type`` may report them.
CANONICAL = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def _bigquery_type(data_type: DataType, column: str) -> tuple[str, list[Any]]:
    if isinstance(data_type, StructType):
        return "STRUCT", bigquery_schema(data_type)
    if isinstance(data_type, DecimalType):
        return ("NUMERIC" if data_type.scale <= 9 and data_type.precision - data_type.scale <= 29
                else "BIGNUMERIC"), []  # fmt: skip
    for spark_class, name in _SCALARS:
        if isinstance(data_type, spark_class):
            return name, []
    raise UserError(
        f"column '{column}': Spark type {data_type.simpleString()} has no BigQuery type."
    )


def bigquery_field(name: str, data_type: DataType, nullable: bool = True) -> Any:
    from google.cloud.bigquery import SchemaField

    mode = "NULLABLE" if nullable else "REQUIRED"
    if isinstance(data_type, ArrayType):
        if isinstance(data_type.elementType, ArrayType):
            raise UserError(f"column '{name}': BigQuery has no arrays of arrays.")
        data_type, mode = data_type.elementType, "REPEATED"
    kind, fields = _bigquery_type(data_type, name)
    return SchemaField(name, kind, mode=mode, fields=fields)


def bigquery_schema(schema: StructType) -> list[Any]:
    """The BigQuery schema of a Spark schema: DATE stays DATE, arrays become REPEATED."""
    return [bigquery_field(f.name, f.dataType, True) for f in schema.fields]


def _kind(field: Any) -> str:
    kind = field.field_type.upper()
    return CANONICAL.get(kind, kind)


def incompatible_columns(
    table_fields: list[Any], new_fields: list[Any], allow_addition: bool, allow_relaxation: bool
) -> list[str]:
    """Why appending ``new_fields`` to a table of ``table_fields`` fails, one line a column."""
    existing = {f.name.lower(): f for f in table_fields}
    problems: list[str] = []
    for field in new_fields:
        old = existing.get(field.name.lower())
        if old is None:
            if not allow_addition:
                problems.append(f"'{field.name}' is not in the table (allowFieldAddition is off)")
            continue
        if _kind(old) != _kind(field):
            problems.append(f"'{field.name}' is {_kind(field)} here but {_kind(old)} in the table")
        elif (old.mode == "REPEATED") != (field.mode == "REPEATED"):
            problems.append(f"'{field.name}' is {field.mode} here but {old.mode} in the table")
    given = {f.name.lower() for f in new_fields}
    for old in table_fields:
        if old.name.lower() not in given and old.mode == "REQUIRED" and not allow_relaxation:
            problems.append(f"'{old.name}' is REQUIRED in the table but not written")
    return problems


def append_fields(
    table_fields: list[Any], new_fields: list[Any], allow_relaxation: bool
) -> list[Any]:
    """The load schema of an APPEND to an existing table (checked by
    :func:`incompatible_columns` first): the table's own columns, in the table's order and
    with its types and modes — those the job does not write are loaded as NULLs —, then the
    job's new columns (``allowFieldAddition``). ``allowFieldRelaxation`` makes every REQUIRED
    column NULLABLE, as the load then relaxes the table."""
    from google.cloud.bigquery import SchemaField

    fields = []
    for old in table_fields:
        api = old.to_api_repr()
        if allow_relaxation and old.mode == "REQUIRED":
            api["mode"] = "NULLABLE"
        fields.append(SchemaField.from_api_repr(api))
    known = {f.name.lower() for f in table_fields}
    return fields + [f for f in new_fields if f.name.lower() not in known]


def aligned_columns(schema: StructType, fields: list[Any]) -> list[tuple[str | None, StructField]]:
    """``schema``'s columns as ``fields`` name and order them (names match case-insensitively,
    as BigQuery's do): each field paired with the column it takes, None for a field ``schema``
    lacks (a typed NULL column). The staged files then hold exactly the load schema's
    columns, which every backend loads alike."""
    from spark_job.bigquery.types import spark_type

    by_name = {f.name.lower(): f for f in schema.fields}
    columns: list[tuple[str | None, StructField]] = []
    for field in fields:
        found = by_name.get(field.name.lower())
        if found is not None:
            columns.append((found.name, StructField(field.name, found.dataType, True)))
        else:
            columns.append((None, StructField(field.name, spark_type(field), True)))
    return columns
