"""Column types of record files (JSON, CSV, TFRecord): inferred from a sample, then enforced.

Inference counts the kinds of values each column holds in a sample and picks the kind most
values have (ties go to the more permissive type, string first), so a few bad values do not
change a column's type: they become ``WRONG_TYPE`` errors when the instances are read.

- numbers → ``long`` when every sampled number is whole, else ``double`` (TFRecord float lists
  stay ``float``); ``true``/``false`` → ``boolean``; text → ``string``; JSON objects → ``string``
  (the object as JSON text); lists → ``array<...>`` of the elements' type;
- a string column accepts any value (numbers and objects as their JSON text);
- a TFRecord feature whose sampled lists all hold one value is a scalar column.

CSV values are text, so numbers and booleans are recognised by parsing them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa

NULL, BOOL, INT, FLOAT, F32, STR, BYTES, LIST, DICT = (
    "null",
    "bool",
    "int",
    "float",
    "f32",
    "str",
    "bytes",
    "list",
    "dict",
)

# When two kinds are equally common the more permissive wins: a string column accepts anything.
_PREFERENCE = {STR: 6, "numeric": 5, BOOL: 4, BYTES: 3, LIST: 2, DICT: 1}

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Summary = dict[str, Any]  # {"kinds": {kind: n}, "elements": {kind: n}, "max_len": n}


class WrongType(ValueError):
    """A value does not fit its column's type."""


# --------------------------------------------------------------------------- inference


def text_kind(text: str, null_value: str = "") -> str:
    """The kind of a CSV field."""
    if text == null_value or text == "":
        return NULL
    try:
        int(text)
        return INT
    except ValueError:
        pass
    try:
        float(text)
        return FLOAT
    except ValueError:
        pass
    return BOOL if text.lower() in ("true", "false") else STR


def value_kind(value: Any) -> str:
    """The kind of a decoded JSON (or TFRecord) value."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
            return STR
        except UnicodeDecodeError:
            return BYTES
    if isinstance(value, list | tuple):
        return LIST
    return DICT


def new_summary() -> Summary:
    return {"kinds": {}, "elements": {}, "max_len": 0}


def _count(counts: dict[str, int], kind: str, n: int = 1) -> None:
    counts[kind] = counts.get(kind, 0) + n


def observe(summary: Summary, kind: str, elements: list[str] | None = None) -> None:
    """Add one value of ``kind`` (with its elements' kinds, for lists)."""
    _count(summary["kinds"], kind)
    if elements is not None:
        summary["max_len"] = max(summary["max_len"], len(elements))
        for element in elements:
            _count(summary["elements"], element)


def merge(into: Summary, other: Summary) -> Summary:
    for key in ("kinds", "elements"):
        for kind, n in other[key].items():
            _count(into[key], kind, n)
    into["max_len"] = max(into["max_len"], other["max_len"])
    return into


def _scalar_type(kinds: dict[str, int]) -> pa.DataType:
    groups = {
        "numeric": kinds.get(INT, 0) + kinds.get(FLOAT, 0) + kinds.get(F32, 0),
        BOOL: kinds.get(BOOL, 0),
        STR: kinds.get(STR, 0),
        BYTES: kinds.get(BYTES, 0),
        LIST: kinds.get(LIST, 0),
        DICT: kinds.get(DICT, 0),
    }
    best, count = max(groups.items(), key=lambda item: (item[1], _PREFERENCE[item[0]]))
    if count == 0 or best in (STR, DICT, LIST):
        return pa.string()
    if best == "numeric":
        if kinds.get(FLOAT, 0):
            return pa.float64()
        if kinds.get(F32, 0):
            return pa.float64() if kinds.get(INT, 0) else pa.float32()
        return pa.int64()
    return pa.bool_() if best == BOOL else pa.binary()


def choose_type(summary: Summary, squeeze: bool = False) -> pa.DataType:
    """The column type for the sampled ``summary``; ``squeeze``: one-value lists are scalars."""
    kinds = {k: n for k, n in summary["kinds"].items() if k != NULL}
    if squeeze and summary["max_len"] <= 1:
        return _scalar_type(summary["elements"])
    non_null = sum(kinds.values())
    if kinds.get(LIST, 0) * 2 > non_null or (kinds.get(LIST, 0) and len(kinds) == 1):
        return pa.list_(_scalar_type(summary["elements"]))
    return _scalar_type(kinds)


# --------------------------------------------------------------------------- conversion

Converter = Callable[[Any], Any]


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _typed(dtype: pa.DataType) -> Converter:
    """A converter of decoded (JSON, TFRecord) values to ``dtype``."""
    if pa.types.is_integer(dtype):

        def to_int(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, int) and not isinstance(value, bool):
                number = value
            elif isinstance(value, float) and value.is_integer():
                number = int(value)
            else:
                raise WrongType(f"expected a whole number, got {_show(value)}")
            if not _INT64_MIN <= number <= _INT64_MAX:
                raise WrongType(f"{number} does not fit a 64-bit integer")
            return number

        return to_int
    if pa.types.is_floating(dtype):

        def to_float(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise WrongType(f"expected a number, got {_show(value)}")

        return to_float
    if pa.types.is_boolean(dtype):

        def to_bool(value: Any) -> Any:
            if value is None or isinstance(value, bool):
                return value
            raise WrongType(f"expected true or false, got {_show(value)}")

        return to_bool
    if pa.types.is_string(dtype):

        def to_str(value: Any) -> Any:
            if value is None or isinstance(value, str):
                return value
            if isinstance(value, bytes):
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    raise WrongType("bytes that are not UTF-8 text") from None
            return json.dumps(value)

        return to_str
    if pa.types.is_binary(dtype):

        def to_bytes(value: Any) -> Any:
            if value is None or isinstance(value, bytes):
                return value
            if isinstance(value, str):
                return value.encode("utf-8")
            raise WrongType(f"expected bytes, got {_show(value)}")

        return to_bytes
    if pa.types.is_list(dtype):
        element = _typed(dtype.value_type)

        def to_list(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, list | tuple):
                raise WrongType(f"expected a list, got {_show(value)}")
            return [element(item) for item in value]

        return to_list
    return lambda value: value


def _text(dtype: pa.DataType, null_value: str) -> Converter:
    """A converter of CSV fields to ``dtype``."""
    nulls = {"", null_value}
    if pa.types.is_integer(dtype):

        def to_int(text: str) -> Any:
            if text in nulls:
                return None
            try:
                return int(text)
            except ValueError:
                pass
            try:
                number = float(text)
            except ValueError:
                raise WrongType(f"expected a whole number, got {text!r}") from None
            if not math.isfinite(number) or not number.is_integer():
                raise WrongType(f"expected a whole number, got {text!r}")
            return int(number)

        return to_int
    if pa.types.is_floating(dtype):

        def to_float(text: str) -> Any:
            if text in nulls:
                return None
            try:
                return float(text)
            except ValueError:
                raise WrongType(f"expected a number, got {text!r}") from None

        return to_float
    if pa.types.is_boolean(dtype):

        def to_bool(text: str) -> Any:
            if text in nulls:
                return None
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            raise WrongType(f"expected true or false, got {text!r}")

        return to_bool
    return lambda text: None if text in nulls else text


def converter(
    dtype: pa.DataType, text: bool = False, squeeze: bool = False, null_value: str = ""
) -> Converter:
    """A function turning one raw value into a value of ``dtype``, raising WrongType.

    ``text``: raw values are CSV fields; ``squeeze``: raw values are lists that hold one value
    for a scalar column (TFRecord features).
    """
    if text:
        return _text(dtype, null_value)
    convert = _typed(dtype)
    if not squeeze or pa.types.is_list(dtype):
        return convert

    def single(values: Any) -> Any:
        if values is None or len(values) == 0:
            return None
        if len(values) > 1:
            raise WrongType(f"expected one value, got {len(values)}")
        return convert(values[0])

    return single
