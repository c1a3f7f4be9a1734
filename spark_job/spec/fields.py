"""Field parsers of the spec: proto3 JSON spelling, typed values, errors naming the field path."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from spark_job.errors import UserError
from spark_job.spec.quantity import cpu_cores, memory_bytes

# --------------------------------------------------------------------------- parsing


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


Parser = Callable[[Any, str], Any]


@dataclass(frozen=True)
class Rule:
    parse: Parser
    required: bool = False


def field_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def error_line(error: Exception) -> str:
    """A YAML parse error (or any error) on one line: ``line 2, column 1: <what was
    expected>``. (PyYAML's own text spans several lines and names ``<unicode string>``.)"""
    mark = getattr(error, "problem_mark", None)
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    what = ", ".join(str(part) for part in parts if part)
    if not what:
        what = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark else what


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1)
        close = [c for c in choices if c.lower() in close]
    return f" Did you mean '{close[0]}'?" if close else ""


def parse_message(raw: Any, path: str, fields: Mapping[str, Rule]) -> dict[str, Any]:
    """Parse a mapping against ``fields`` (snake_case names); camelCase keys are accepted."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UserError(f"{path or 'spec'}: expected a mapping, got {type(raw).__name__}.")
    values: dict[str, Any] = {}
    seen_as: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise UserError(f"{path or 'spec'}: keys must be strings, got {key!r}.")
        name = camel_to_snake(key)
        where = field_path(path, key)
        if name not in fields:
            allowed = [snake_to_camel(f) for f in fields]
            raise UserError(
                f"{where}: unknown field '{key}'.{did_you_mean(key, allowed + list(fields))}"
                f" Allowed fields: {', '.join(allowed)}."
            )
        if name in seen_as:
            raise UserError(f"{where}: given twice (also as '{seen_as[name]}').")
        seen_as[name] = key
        if value is None:
            continue
        values[name] = fields[name].parse(value, where)
    for name, spec_field in fields.items():
        if spec_field.required and name not in values:
            raise UserError(f"{field_path(path, snake_to_camel(name))}: required field is missing.")
    return values


def parse_string(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UserError(f"{path}: expected a string, got {type(value).__name__}.")
    return str(value)


def parse_non_empty_string(value: Any, path: str) -> str:
    text = parse_string(value, path).strip()
    if not text:
        raise UserError(f"{path}: must not be empty.")
    return text


def parse_string_list(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise UserError(f"{path}: expected a list of strings, got {type(value).__name__}.")
    items = [parse_non_empty_string(item, f"{path}[{i}]") for i, item in enumerate(value)]
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise UserError(f"{path}: column listed more than once: {', '.join(duplicates)}.")
    return items


def parse_options(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise UserError(f"{path}: expected a mapping of option names to values.")
    options: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            options[str(key)] = "true" if item else "false"
        elif isinstance(item, list):
            options[str(key)] = ",".join(parse_string(x, f"{path}.{key}") for x in item)
        else:
            options[str(key)] = parse_string(item, f"{path}.{key}")
    return options


def enum_parser(kind: type[enum.Enum]) -> Parser:
    def parse(value: Any, path: str) -> Any:
        allowed = [member.value for member in kind]
        text = str(value).strip().upper() if isinstance(value, str) else value
        if text not in allowed:
            raise UserError(
                f"{path}: '{value}' is not one of {', '.join(allowed)}."
                f"{did_you_mean(str(value).upper(), allowed)}"
            )
        return kind(text)

    return parse


def integer_parser(minimum: int) -> Parser:
    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise UserError(f"{path}: expected an integer, got {value!r}.")
        try:
            number = int(value)
        except ValueError:
            raise UserError(f"{path}: expected an integer, got {value!r}.") from None
        if number < minimum:
            raise UserError(f"{path}: must be at least {minimum}, got {number}.")
        return number

    return parse


def parse_ratio(value: Any, path: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{path}: expected a number between 0.0 and 1.0, got {value!r}.") from None
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise UserError(f"{path}: expected a number between 0.0 and 1.0, got {value!r}.")
    return number


def parse_cpu_quantity(value: Any, path: str) -> str:
    """A Kubernetes CPU quantity, kept as written (YAML may give ``2`` as an int)."""
    text = parse_non_empty_string(value, path)
    cpu_cores(text, path)
    return text


def parse_memory_quantity(value: Any, path: str) -> str:
    """A Kubernetes memory quantity, kept as written."""
    text = parse_non_empty_string(value, path)
    memory_bytes(text, path)
    return text


def unsupported(what: str) -> Parser:
    def parse(value: Any, path: str) -> Any:
        raise UserError(f"{path}: {what} is not supported by spark_job.")

    return parse


def parse_flag(text: str, path: str) -> bool:
    """``true`` or ``false`` (any case), else an error naming ``path``: the one rule for every
    boolean option the job reads itself; YAML booleans arrive here as ``true``/``false``."""
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise UserError(f"{path}: expected true or false, got '{text}'.")
    return value == "true"


def parse_bool(value: Any, path: str) -> bool:
    """A spec field that is true or false: a YAML boolean, or the text of :func:`parse_flag`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_flag(value, path)
    raise UserError(f"{path}: expected true or false, got {value!r}.")


def option_flag(options: Mapping[str, str], key: str, default: bool, field: str) -> bool:
    """The boolean option ``key`` by :func:`parse_flag`, or ``default`` when absent; errors
    name ``field.key`` (``field`` is e.g. ``bigquerySink.options``)."""
    text = options.get(key)
    return default if text is None else parse_flag(text, f"{field}.{key}")
