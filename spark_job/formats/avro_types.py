"""Avro schemas ⇄ Arrow types, for reading and writing AVRO files with fastavro (no spark-avro).

Reading: primitive types, ``date``, ``timestamp-millis``/``-micros``, ``decimal``, arrays,
records (structs), enums (strings), fixed (binary) and ``[null, T]`` unions. Maps and other
unions are read as JSON text.
Writing: every column is a ``[null, T]`` union; timestamps are ``timestamp-micros``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa


class UnsupportedAvroType(ValueError):
    pass


def _non_null(branches: list[Any]) -> list[Any]:
    return [b for b in branches if b != "null"]


def arrow_type(avro: Any) -> pa.DataType:
    """The Arrow type of an Avro schema (a parsed JSON schema)."""
    if isinstance(avro, list):
        branches = _non_null(avro)
        if len(branches) == 1:
            return arrow_type(branches[0])
        return pa.string()  # a general union: its value as JSON text
    if isinstance(avro, str):
        return _PRIMITIVES.get(avro, pa.string())
    kind = avro.get("type")
    logical = avro.get("logicalType")
    if logical == "date":
        return pa.date32()
    if logical in (
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    ):
        return pa.timestamp("us", tz="UTC")
    if logical == "decimal":
        return pa.decimal128(int(avro["precision"]), int(avro.get("scale", 0)))
    if kind == "array":
        return pa.list_(arrow_type(avro["items"]))
    if kind == "record":
        return pa.struct([pa.field(f["name"], arrow_type(f["type"])) for f in avro["fields"]])
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary()
    if kind == "map":
        return pa.string()
    return arrow_type(kind)


_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}


def arrow_schema(avro_schema: dict[str, Any]) -> pa.Schema:
    """The Arrow schema of a top-level Avro record schema."""
    if avro_schema.get("type") != "record":
        raise UnsupportedAvroType("the top-level Avro schema must be a record")
    return pa.schema([pa.field(f["name"], arrow_type(f["type"])) for f in avro_schema["fields"]])


def needs_json(avro: Any) -> bool:
    """True when values of this Avro type are read as JSON text (maps, general unions)."""
    if isinstance(avro, list):
        branches = _non_null(avro)
        return len(branches) != 1 or needs_json(branches[0])
    return isinstance(avro, dict) and avro.get("type") == "map"


def to_json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


# --------------------------------------------------------------------------- writing


def avro_type(dtype: pa.DataType, name: str, nullable_items: bool = True) -> Any:
    """The Avro type (without the null branch) for an Arrow type; ``nullable_items`` False
    makes array items non-null (BigQuery's REPEATED fields hold no NULL)."""
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "int" if dtype.bit_width <= 32 and pa.types.is_signed_integer(dtype) else "long"
    if pa.types.is_float32(dtype) or pa.types.is_float16(dtype):
        return "float"
    if pa.types.is_floating(dtype):
        return "double"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytes"
    if pa.types.is_date(dtype):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_timestamp(dtype):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if pa.types.is_decimal(dtype):
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": dtype.precision,
            "scale": dtype.scale,
        }
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        items = avro_type(dtype.value_type, name + "_item", nullable_items)
        return {"type": "array", "items": ["null", items] if nullable_items else items}
    if pa.types.is_struct(dtype):
        return {
            "type": "record",
            "name": f"{name}_record",
            "fields": [
                {
                    "name": f.name,
                    "type": ["null", avro_type(f.type, f"{name}_{f.name}", nullable_items)],
                }
                for f in dtype
            ],
        }
    raise UnsupportedAvroType(f"column '{name}' of type {dtype} cannot be written as Avro")


def avro_schema(
    schema: pa.Schema, name: str = "prediction", nullable_items: bool = True
) -> dict[str, Any]:
    """A record schema for rows of ``schema``; every field nullable (default null)."""
    return {
        "type": "record",
        "name": name,
        "fields": [
            {
                "name": f.name,
                "type": ["null", avro_type(f.type, f.name, nullable_items)],
                "default": None,
            }
            for f in schema
        ],
    }
