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

from pathlib import Path
from typing import Any

import yaml

from spark_job.errors import UserError
from spark_job.spec.fields import (
    Rule,
    enum_parser,
    error_line,
    integer_parser,
    parse_bool,
    parse_cpu_quantity,
    parse_memory_quantity,
    parse_message,
    parse_non_empty_string,
    parse_options,
    parse_ratio,
    parse_string,
    snake_to_camel,
    unsupported,
)
from spark_job.spec.report import ReportSpec, check_report, parse_report
from spark_job.spec.secrets import find_secrets, maskable, redact, remember
from spark_job.spec.source_parsers import checked as _checked
from spark_job.spec.source_parsers import parse_bigquery_source as _bigquery_source
from spark_job.spec.source_parsers import parse_gcs_source as _gcs_source
from spark_job.spec.types import (
    SCALAR_RESULT_TYPES,
    SINK_FILE_FORMATS,
    BigQuerySink,
    ErrorHandling,
    ErrorMode,
    FileFormat,
    GcsSink,
    JobSpec,
    ModelResult,
    ModelSpec,
    ModelType,
    Resources,
    ResultField,
    ResultType,
    SaveMode,
    Sink,
    Source,
)


def _scalar_type(value: Any, path: str) -> ResultType:
    kind = enum_parser(ResultType)(value, path)
    if kind not in SCALAR_RESULT_TYPES:
        allowed = ", ".join(k.value for k in SCALAR_RESULT_TYPES)
        raise UserError(f"{path}: {kind.value} is not allowed here; one of {allowed}.")
    return kind


def _result_field(raw: Any, path: str) -> ResultField:
    values = parse_message(
        raw,
        path,
        {
            "name": Rule(parse_non_empty_string, required=True),
            "type": Rule(_scalar_type, required=True),
        },
    )
    return ResultField(**values)


def _result_fields(raw: Any, path: str) -> tuple[ResultField, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{path}: expected a list of {{name, type}}, got {raw!r}.")
    fields = tuple(_result_field(item, f"{path}[{i}]") for i, item in enumerate(raw))
    names = [f.name for f in fields]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"{path}: field '{name}' is given twice.")
    return fields


def _model_result(raw: Any, path: str) -> ModelResult:
    values = parse_message(
        raw,
        path,
        {
            "type": Rule(enum_parser(ResultType)),
            "item_type": Rule(enum_parser(ResultType)),
            "fields": Rule(_result_fields),
            "flatten": Rule(parse_bool),
        },
    )
    if values.get("fields") and values.get("type", ResultType.AUTO) is ResultType.AUTO:
        values["type"] = ResultType.STRUCT  # named fields make a STRUCT
    result = ModelResult(**values)
    if result.type is ResultType.ARRAY:
        if result.item_type is None:
            raise UserError(f"{path}.itemType: required when {path}.type is ARRAY.")
        if result.item_type not in SCALAR_RESULT_TYPES:
            raise UserError(f"{path}.itemType: {result.item_type.value} items are not supported.")
    if result.fields and result.type is not ResultType.STRUCT:
        raise UserError(f"{path}.fields: only for type STRUCT (type is {result.type.value}).")
    if result.flatten and result.type not in (ResultType.STRUCT, ResultType.AUTO):
        raise UserError(f"{path}.flatten: only for type STRUCT (type is {result.type.value}).")
    return result


def _model_params(raw: Any, path: str) -> dict[str, Any]:
    """``model.params``: names to values, kept as YAML gave them (typed later, by the model's
    signature)."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of param names to values.")
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise UserError(f"{path}: param names must be non-empty strings, got {name!r}.")
        if value is None:
            raise UserError(f"{path}.{name}: no value given.")
    return dict(raw)


def _model(raw: Any, path: str) -> ModelSpec:
    values = parse_message(
        raw,
        path,
        {
            "type": Rule(enum_parser(ModelType)),
            "uri": Rule(parse_non_empty_string, required=True),
            "result": Rule(_model_result),
            "options": Rule(parse_options),
            "params": Rule(_model_params),
        },
    )
    model = ModelSpec(**values)
    model.typed_options  # noqa: B018 - reading them is the check
    return model


def _column_name(value: Any, path: str) -> str:
    return parse_non_empty_string(value, path)


def _bigquery_sink(raw: Any, path: str) -> BigQuerySink:
    values = parse_message(
        raw,
        path,
        {
            "table": Rule(parse_non_empty_string, required=True),
            "staging_bucket": Rule(parse_non_empty_string),
            "result_column": Rule(_column_name),
            "save_mode": Rule(enum_parser(SaveMode)),
            "options": Rule(parse_options),
            "errors_table": Rule(parse_non_empty_string),
        },
    )
    return _checked(BigQuerySink(**values))


def _gcs_sink(raw: Any, path: str) -> GcsSink:
    values = parse_message(
        raw,
        path,
        {
            "format": Rule(enum_parser(FileFormat), required=True),
            "uri": Rule(parse_non_empty_string, required=True),
            "result_column": Rule(_column_name),
            "save_mode": Rule(enum_parser(SaveMode)),
            "options": Rule(parse_options),
        },
    )
    if values["format"] not in SINK_FILE_FORMATS:
        allowed = ", ".join(f.value for f in SINK_FILE_FORMATS)
        raise UserError(
            f"{path}.format: {values['format'].value} cannot be written; use {allowed}."
        )
    return _checked(GcsSink(**values))


def _error_handling(raw: Any, path: str) -> ErrorHandling:
    values = parse_message(
        raw, path, {"mode": Rule(enum_parser(ErrorMode)), "max_error_ratio": Rule(parse_ratio)}
    )
    return ErrorHandling(**values)


def _resources(raw: Any, path: str) -> Resources:
    values = parse_message(
        raw,
        path,
        {
            "driver_cpu_request": Rule(parse_cpu_quantity),
            "driver_memory_request": Rule(parse_memory_quantity),
            "executor_cpu_request": Rule(parse_cpu_quantity),
            "executor_memory_request": Rule(parse_memory_quantity),
            "executor_replica": Rule(integer_parser(1)),
            "max_worker_count": Rule(integer_parser(1)),
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

_TOP_LEVEL: dict[str, Rule] = {
    "kind": Rule(parse_string),
    "version": Rule(parse_string),
    "name": Rule(parse_string),
    "bigquery_source": Rule(_bigquery_source),
    "gcs_source": Rule(_gcs_source),
    "maxcompute_source": Rule(unsupported("maxComputeSource")),
    "model": Rule(_model, required=True),
    "bigquery_sink": Rule(_bigquery_sink),
    "gcs_sink": Rule(_gcs_sink),
    "maxcompute_sink": Rule(unsupported("maxComputeSink")),
    "error_handling": Rule(_error_handling),
    "resources": Rule(_resources),
    "report": Rule(parse_report),
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
    """Validate a parsed YAML document and return the :class:`JobSpec`.

    The values of secret-named keys (``gcpAccessToken``, ``myApiKey``...) are remembered for
    the process and masked in every message (see :mod:`spark_job.spec.secrets`)."""
    found = maskable(find_secrets(document).values())
    remember(found)
    try:
        return _parse_spec(document)
    except UserError as error:
        raise UserError(redact(str(error), found)) from None


def _parse_spec(document: Any) -> JobSpec:
    values = parse_message(document, "", _TOP_LEVEL)
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
        report=values.get("report", ReportSpec()),
    )
    _check_columns(spec.source, spec.sink, spec.source_field, spec.sink_field)
    check_report(spec)
    return spec


def parse_spec_text(text: str, origin: str = "spec") -> JobSpec:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UserError(f"{origin}: not valid YAML: {error_line(error)}") from None
    if document is None:
        raise UserError(f"{origin}: the spec is empty; give a source, a model and a sink.")
    return parse_spec(document)


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate the spec file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"--spec-path: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise UserError(
            f"--spec-path: {path} is not UTF-8 text (line {line}: {error.reason}); save it as"
            " UTF-8."
        ) from None
    return parse_spec_text(text, str(path))
