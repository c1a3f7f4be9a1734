"""Parsers of the spec's sources (``bigquerySource``, ``gcsSource``), shared by the spec's top
level and by ``report.reference``, which may name a source of the same schema."""

from __future__ import annotations

from typing import Any, TypeVar

from spark_job.errors import UserError
from spark_job.spec.fields import (
    Rule,
    enum_parser,
    parse_message,
    parse_non_empty_string,
    parse_options,
    parse_string_list,
)
from spark_job.spec.types import BigQuerySink, BigQuerySource, FileFormat, GcsSink, GcsSource

Part = TypeVar("Part", BigQuerySource, GcsSource, BigQuerySink, GcsSink)


def checked(part: Part) -> Part:
    """``part`` once its ``options`` were read against their schema: a bad option is a
    UserError now (naming e.g. ``bigquerySink.options.allowFieldAddition``), not at run time."""
    part.typed_options  # noqa: B018 - reading them is the check
    return part


def parse_bigquery_source(raw: Any, path: str) -> BigQuerySource:
    values = parse_message(
        raw,
        path,
        {
            "table": Rule(parse_non_empty_string, required=True),
            "features": Rule(parse_string_list),
            "passthrough": Rule(parse_string_list),
            "options": Rule(parse_options),
        },
    )
    return checked(BigQuerySource(**values))


def parse_gcs_source(raw: Any, path: str) -> GcsSource:
    values = parse_message(
        raw,
        path,
        {
            "format": Rule(enum_parser(FileFormat), required=True),
            "uri": Rule(parse_non_empty_string),
            "uris": Rule(parse_string_list),
            "features": Rule(parse_string_list),
            "passthrough": Rule(parse_string_list),
            "options": Rule(parse_options),
        },
    )
    uris = ([values.pop("uri")] if "uri" in values else []) + values.pop("uris", [])
    if not uris:
        raise UserError(f"{path}.uri: required field is missing (give 'uri' or 'uris').")
    return checked(GcsSource(uris=uris, **values))
