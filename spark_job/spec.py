"""The job spec: Merlin's ``PredictionJob`` YAML plus spark_job's extensions.

Parsing follows the proto3 JSON mapping: every field may be spelt in camelCase or
snake_case, enums are given by name. Validation is strict and happens before any
SparkSession starts; every problem raises :class:`~spark_job.errors.UserError` whose
message names the field path, e.g. ``bigquerySink.save_mode``.

Example::

    spec = load_spec("conf/examples/iris.yaml")
    spec.source.features   # ['sepal_length', ...]
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spark_job.errors import UserError
from spark_job.quantity import cpu_cores, memory_bytes


class ResultType(str, enum.Enum):
    DOUBLE = "DOUBLE"
    FLOAT = "FLOAT"
    INTEGER = "INTEGER"
    LONG = "LONG"
    STRING = "STRING"
    ARRAY = "ARRAY"


class ModelType(str, enum.Enum):
    XGBOOST = "XGBOOST"
    TENSORFLOW = "TENSORFLOW"
    SKLEARN = "SKLEARN"
    PYTORCH = "PYTORCH"
    ONNX = "ONNX"
    PYFUNC = "PYFUNC"
    PYFUNC_V2 = "PYFUNC_V2"


class FileFormat(str, enum.Enum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    AVRO = "AVRO"
    JSON = "JSON"
    TFRECORD = "TFRECORD"
    TFRECORD_GZIP = "TFRECORD_GZIP"


class SaveMode(str, enum.Enum):
    ERRORIFEXISTS = "ERRORIFEXISTS"
    OVERWRITE = "OVERWRITE"
    APPEND = "APPEND"
    IGNORE = "IGNORE"
    ERROR = "ERROR"

    @property
    def fails_if_exists(self) -> bool:
        return self in (SaveMode.ERRORIFEXISTS, SaveMode.ERROR)


class ErrorMode(str, enum.Enum):
    FAIL_FAST = "FAIL_FAST"
    RECORD_AND_CONTINUE = "RECORD_AND_CONTINUE"


SINK_FILE_FORMATS = (FileFormat.JSON, FileFormat.PARQUET, FileFormat.CSV, FileFormat.AVRO)


@dataclass(frozen=True)
class BigQuerySource:
    table: str
    features: list[str] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GcsSource:
    format: FileFormat
    uris: list[str]
    features: list[str] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


Source = BigQuerySource | GcsSource


@dataclass(frozen=True)
class ModelResult:
    type: ResultType = ResultType.DOUBLE
    item_type: ResultType | None = None


@dataclass(frozen=True)
class ModelSpec:
    uri: str
    type: ModelType = ModelType.PYFUNC_V2
    result: ModelResult = field(default_factory=ModelResult)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BigQuerySink:
    table: str
    staging_bucket: str | None = None
    result_column: str = "prediction"
    save_mode: SaveMode = SaveMode.ERRORIFEXISTS
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GcsSink:
    format: FileFormat
    uri: str
    result_column: str = "prediction"
    save_mode: SaveMode = SaveMode.ERRORIFEXISTS
    options: dict[str, str] = field(default_factory=dict)


Sink = BigQuerySink | GcsSink


@dataclass(frozen=True)
class ErrorHandling:
    mode: ErrorMode = ErrorMode.FAIL_FAST
    max_error_ratio: float = 0.0


@dataclass(frozen=True)
class Resources:
    """Resource requests, with the seed's names and defaults (quantities as Kubernetes strings)."""

    driver_cpu_request: str = "2"
    driver_memory_request: str = "2Gi"
    executor_cpu_request: str = "2"
    executor_memory_request: str = "2Gi"
    executor_replica: int = 3
    max_worker_count: int | None = None


@dataclass(frozen=True)
class JobSpec:
    source: Source
    model: ModelSpec
    sink: Sink
    kind: str = "PredictionJob"
    version: str = "v1"
    name: str = ""
    error_handling: ErrorHandling = field(default_factory=ErrorHandling)
    resources: Resources = field(default_factory=Resources)

    @property
    def source_field(self) -> str:
        return "bigquerySource" if isinstance(self.source, BigQuerySource) else "gcsSource"

    @property
    def sink_field(self) -> str:
        return "bigquerySink" if isinstance(self.sink, BigQuerySink) else "gcsSink"

    @property
    def output_columns(self) -> list[str]:
        """Output columns in order: passthrough + features + result column."""
        return [*self.source.passthrough, *self.source.features, self.sink.result_column]


# --------------------------------------------------------------------------- parsing


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


Parser = Callable[[Any, str], Any]


@dataclass(frozen=True)
class _Field:
    parse: Parser
    required: bool = False


def _path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1)
        close = [c for c in choices if c.lower() in close]
    return f" Did you mean '{close[0]}'?" if close else ""


def _message(raw: Any, path: str, fields: Mapping[str, _Field]) -> dict[str, Any]:
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
        where = _path(path, key)
        if name not in fields:
            allowed = [snake_to_camel(f) for f in fields]
            raise UserError(
                f"{where}: unknown field '{key}'.{_did_you_mean(key, allowed + list(fields))}"
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
            raise UserError(f"{_path(path, snake_to_camel(name))}: required field is missing.")
    return values


def _string(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UserError(f"{path}: expected a string, got {type(value).__name__}.")
    return str(value)


def _non_empty_string(value: Any, path: str) -> str:
    text = _string(value, path).strip()
    if not text:
        raise UserError(f"{path}: must not be empty.")
    return text


def _string_list(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise UserError(f"{path}: expected a list of strings, got {type(value).__name__}.")
    items = [_non_empty_string(item, f"{path}[{i}]") for i, item in enumerate(value)]
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise UserError(f"{path}: column listed more than once: {', '.join(duplicates)}.")
    return items


def _options(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise UserError(f"{path}: expected a mapping of option names to values.")
    options: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            options[str(key)] = "true" if item else "false"
        elif isinstance(item, list):
            options[str(key)] = ",".join(_string(x, f"{path}.{key}") for x in item)
        else:
            options[str(key)] = _string(item, f"{path}.{key}")
    return options


def _enum(kind: type[enum.Enum]) -> Parser:
    def parse(value: Any, path: str) -> Any:
        allowed = [member.value for member in kind]
        text = str(value).strip().upper() if isinstance(value, str) else value
        if text not in allowed:
            raise UserError(
                f"{path}: '{value}' is not one of {', '.join(allowed)}."
                f"{_did_you_mean(str(value).upper(), allowed)}"
            )
        return kind(text)

    return parse


def _integer(minimum: int) -> Parser:
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


def _ratio(value: Any, path: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{path}: expected a number between 0.0 and 1.0, got {value!r}.") from None
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise UserError(f"{path}: expected a number between 0.0 and 1.0, got {value!r}.")
    return number


def _cpu_quantity(value: Any, path: str) -> str:
    """A Kubernetes CPU quantity, kept as written (YAML may give ``2`` as an int)."""
    text = _non_empty_string(value, path)
    cpu_cores(text, path)
    return text


def _memory_quantity(value: Any, path: str) -> str:
    """A Kubernetes memory quantity, kept as written."""
    text = _non_empty_string(value, path)
    memory_bytes(text, path)
    return text


def _unsupported(what: str) -> Parser:
    def parse(value: Any, path: str) -> Any:
        raise UserError(f"{path}: {what} is not supported by spark_job.")

    return parse


def _bigquery_source(raw: Any, path: str) -> BigQuerySource:
    values = _message(
        raw,
        path,
        {
            "table": _Field(_non_empty_string, required=True),
            "features": _Field(_string_list),
            "passthrough": _Field(_string_list),
            "options": _Field(_options),
        },
    )
    return BigQuerySource(**values)


def _gcs_source(raw: Any, path: str) -> GcsSource:
    values = _message(
        raw,
        path,
        {
            "format": _Field(_enum(FileFormat), required=True),
            "uri": _Field(_non_empty_string),
            "uris": _Field(_string_list),
            "features": _Field(_string_list),
            "passthrough": _Field(_string_list),
            "options": _Field(_options),
        },
    )
    uris = ([values.pop("uri")] if "uri" in values else []) + values.pop("uris", [])
    if not uris:
        raise UserError(f"{path}.uri: required field is missing (give 'uri' or 'uris').")
    return GcsSource(uris=uris, **values)


def _model_result(raw: Any, path: str) -> ModelResult:
    values = _message(
        raw, path, {"type": _Field(_enum(ResultType)), "item_type": _Field(_enum(ResultType))}
    )
    result = ModelResult(**values)
    if result.type is ResultType.ARRAY:
        if result.item_type is None:
            raise UserError(f"{path}.itemType: required when {path}.type is ARRAY.")
        if result.item_type is ResultType.ARRAY:
            raise UserError(f"{path}.itemType: nested arrays are not supported.")
    return result


def _model(raw: Any, path: str) -> ModelSpec:
    values = _message(
        raw,
        path,
        {
            "type": _Field(_enum(ModelType)),
            "uri": _Field(_non_empty_string, required=True),
            "result": _Field(_model_result),
            "options": _Field(_options),
        },
    )
    return ModelSpec(**values)


def _column_name(value: Any, path: str) -> str:
    return _non_empty_string(value, path)


def _bigquery_sink(raw: Any, path: str) -> BigQuerySink:
    values = _message(
        raw,
        path,
        {
            "table": _Field(_non_empty_string, required=True),
            "staging_bucket": _Field(_non_empty_string),
            "result_column": _Field(_column_name),
            "save_mode": _Field(_enum(SaveMode)),
            "options": _Field(_options),
        },
    )
    return BigQuerySink(**values)


def _gcs_sink(raw: Any, path: str) -> GcsSink:
    values = _message(
        raw,
        path,
        {
            "format": _Field(_enum(FileFormat), required=True),
            "uri": _Field(_non_empty_string, required=True),
            "result_column": _Field(_column_name),
            "save_mode": _Field(_enum(SaveMode)),
            "options": _Field(_options),
        },
    )
    if values["format"] not in SINK_FILE_FORMATS:
        allowed = ", ".join(f.value for f in SINK_FILE_FORMATS)
        raise UserError(
            f"{path}.format: {values['format'].value} cannot be written; use {allowed}."
        )
    return GcsSink(**values)


def _error_handling(raw: Any, path: str) -> ErrorHandling:
    values = _message(
        raw, path, {"mode": _Field(_enum(ErrorMode)), "max_error_ratio": _Field(_ratio)}
    )
    return ErrorHandling(**values)


def _resources(raw: Any, path: str) -> Resources:
    values = _message(
        raw,
        path,
        {
            "driver_cpu_request": _Field(_cpu_quantity),
            "driver_memory_request": _Field(_memory_quantity),
            "executor_cpu_request": _Field(_cpu_quantity),
            "executor_memory_request": _Field(_memory_quantity),
            "executor_replica": _Field(_integer(1)),
            "max_worker_count": _Field(_integer(1)),
        },
    )
    resources = Resources(**values)
    maximum = resources.max_worker_count
    if maximum is not None and maximum < resources.executor_replica:
        raise UserError(
            f"{path}.maxWorkerCount: {maximum} is less than {path}.executor_replica"
            f" ({resources.executor_replica}); the maximum number of executors must be at least"
            " the initial number."
        )
    return resources


_SOURCES = ("bigquery_source", "gcs_source", "maxcompute_source")
_SINKS = ("bigquery_sink", "gcs_sink", "maxcompute_sink")

_TOP_LEVEL: dict[str, _Field] = {
    "kind": _Field(_string),
    "version": _Field(_string),
    "name": _Field(_string),
    "bigquery_source": _Field(_bigquery_source),
    "gcs_source": _Field(_gcs_source),
    "maxcompute_source": _Field(_unsupported("maxComputeSource")),
    "model": _Field(_model, required=True),
    "bigquery_sink": _Field(_bigquery_sink),
    "gcs_sink": _Field(_gcs_sink),
    "maxcompute_sink": _Field(_unsupported("maxComputeSink")),
    "error_handling": _Field(_error_handling),
    "resources": _Field(_resources),
}


def _exactly_one(values: dict[str, Any], names: tuple[str, ...], what: str) -> Any:
    given = [name for name in names if name in values]
    spelled = " or ".join(snake_to_camel(n) for n in names[:2])
    if not given:
        raise UserError(f"spec: no {what} given; add {spelled}.")
    if len(given) > 1:
        both = " and ".join(snake_to_camel(n) for n in given)
        raise UserError(f"spec: exactly one {what} is allowed, got {both}.")
    return values[given[0]]


def _check_columns(source: Source, sink: Sink, source_field: str, sink_field: str) -> None:
    overlap = sorted(set(source.features) & set(source.passthrough))
    if overlap:
        raise UserError(
            f"{source_field}.passthrough: {', '.join(overlap)} also listed in features; a column"
            " is either given to the model or passed through."
        )
    if sink.result_column in (*source.features, *source.passthrough):
        raise UserError(
            f"{sink_field}.result_column: '{sink.result_column}' is also an input column;"
            " choose another name."
        )


def parse_spec(document: Any) -> JobSpec:
    """Validate a parsed YAML document and return the :class:`JobSpec`."""
    values = _message(document, "", _TOP_LEVEL)
    source = _exactly_one(values, _SOURCES, "source")
    sink = _exactly_one(values, _SINKS, "sink")
    kind = values.get("kind", "PredictionJob")
    if kind != "PredictionJob":
        raise UserError(f"kind: '{kind}' is not supported; use PredictionJob.")
    spec = JobSpec(
        source=source,
        model=values["model"],
        sink=sink,
        kind=kind,
        version=values.get("version", "v1"),
        name=values.get("name", ""),
        error_handling=values.get("error_handling", ErrorHandling()),
        resources=values.get("resources", Resources()),
    )
    _check_columns(spec.source, spec.sink, spec.source_field, spec.sink_field)
    return spec


def parse_spec_text(text: str, origin: str = "spec") -> JobSpec:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UserError(f"{origin}: not valid YAML: {error}") from None
    return parse_spec(document)


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate the spec file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"--spec-path: cannot read {path}: {error.strerror}") from None
    return parse_spec_text(text, str(path))
