"""Executor side of the Python file reader: sampling a file for its schema, reading a group of
files into Arrow record batches with per-instance error isolation.

Nothing here runs on the driver except planning data (``ReadPlan``) that is pickled to tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from spark_job.formats import avro_types
from spark_job.formats.file_encoders import json_line
from spark_job.formats.record_formats import (
    DECOMPRESSION_ERRORS,
    UNPARSEABLE,
    Problem,
    csv_dialect,
    iter_items,
)
from spark_job.scoring.error_records import raw_key
from spark_job.scoring.row_errors import (
    ORIGIN_FILE,
    ORIGIN_LINE,
    WRONG_TYPE,
    BadInputError,
    TaskErrors,
    TaskPolicy,
)
from spark_job.sources import column_types as ct
from spark_job.spec import FileFormat, FileReadOptions
from spark_job.storage.input_files import is_gzip_name, open_binary

TFRECORD_FORMATS = (FileFormat.TFRECORD, FileFormat.TFRECORD_GZIP)
_TF_KINDS = {"float": ct.F32, "int64": ct.INT}


def gzipped(fmt: FileFormat, uri: str) -> bool:
    """TFRECORD_GZIP always; JSON and CSV files whose name ends in ``.gz``."""
    if fmt is FileFormat.TFRECORD_GZIP:
        return True
    return fmt in (FileFormat.JSON, FileFormat.CSV) and is_gzip_name(uri)


# --------------------------------------------------------------------------- sampling


@dataclass
class FileSample:
    """What one file tells about the input's schema."""

    uri: str
    order: list[str] = field(default_factory=list)
    summaries: dict[str, ct.Summary] = field(default_factory=dict)
    objects: int = 0
    lists: int = 0
    widths: dict[int, int] = field(default_factory=dict)
    arrow: pa.Schema | None = None
    json_columns: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self, name: str) -> ct.Summary:
        if name not in self.summaries:
            self.summaries[name] = ct.new_summary()
            self.order.append(name)
        return self.summaries[name]


def _observe_instance(sample: FileSample, fmt: FileFormat, instance: Any, options: Any) -> None:
    if fmt is FileFormat.CSV:
        for name, text in instance.items():
            ct.observe(sample.summary(name), ct.text_kind(text, options.null_value))
    elif fmt in TFRECORD_FORMATS:
        for name, (kind, values) in instance.items():
            elements = [_TF_KINDS.get(kind) or ct.value_kind(v) for v in values]
            ct.observe(sample.summary(name), ct.LIST, elements)
    elif isinstance(instance, dict):
        sample.objects += 1
        for name, value in instance.items():
            kind = ct.value_kind(value)
            elements = [ct.value_kind(v) for v in value] if kind == ct.LIST else None
            ct.observe(sample.summary(name), kind, elements)
    elif isinstance(instance, list):
        sample.lists += 1
        sample.widths[len(instance)] = sample.widths.get(len(instance), 0) + 1
        for position, value in enumerate(instance):
            kind = ct.value_kind(value)
            elements = [ct.value_kind(v) for v in value] if kind == ct.LIST else None
            ct.observe(sample.summary(str(position)), kind, elements)


def sample_file(
    fmt: FileFormat, options: FileReadOptions, emulator: str | None, rows: int, uri: str
) -> FileSample:
    """Sample the first ``rows`` instances of ``uri`` (or its schema, for PARQUET and AVRO)."""
    sample = FileSample(uri)
    try:
        with open_binary(uri, emulator, gzipped(fmt, uri)) as stream:
            if fmt is FileFormat.PARQUET:
                import pyarrow.parquet as pq

                sample.arrow = pq.read_schema(stream)
                return sample
            if fmt is FileFormat.AVRO:
                import fastavro

                schema = fastavro.reader(stream).writer_schema
                sample.arrow = avro_types.arrow_schema(schema)
                sample.json_columns = [
                    f["name"] for f in schema["fields"] if avro_types.needs_json(f["type"])
                ]
                return sample
            dialect = csv_dialect(options)
            seen = 0
            try:
                for _number, item in iter_items(fmt, stream, options):
                    if isinstance(item, Problem):
                        if item.fatal:
                            break
                        continue
                    _observe_instance(sample, fmt, item, dialect)
                    seen += 1
                    if seen >= rows:
                        break
            except DECOMPRESSION_ERRORS:  # keep what was sampled; reading will report it
                pass
    except (OSError, ValueError, avro_types.UnsupportedAvroType) as error:
        sample.error = f"{type(error).__name__}: {error}"
    return sample


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ReadPlan:
    """Everything a task needs to read its files (pickled into the data source's options)."""

    format: FileFormat
    files: list[str]  # the input files; ORIGIN_FILE values index this list
    schema: pa.Schema  # the data columns to produce, in order, with their types
    options: FileReadOptions  # the source's typed options (the CSV dialect)
    policy: TaskPolicy
    emulator: str | None = None
    list_width: int | None = None  # JSON: instances are lists of this many values
    json_columns: frozenset[str] = frozenset()  # AVRO: columns read as JSON text
    batch_rows: int = 10_000

    @property
    def output_schema(self) -> pa.Schema:
        return self.schema.append(pa.field(ORIGIN_FILE, pa.int32())).append(
            pa.field(ORIGIN_LINE, pa.int64())
        )


class _Batch:
    """Column lists being filled with converted instances."""

    def __init__(self, plan: ReadPlan) -> None:
        self.plan = plan
        self.columns: list[list[Any]] = [[] for _ in plan.schema]
        self.files: list[int] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, row: list[Any], file_index: int, line: int) -> None:
        for values, value in zip(self.columns, row, strict=True):
            values.append(value)
        self.files.append(file_index)
        self.lines.append(line)

    def take(self) -> pa.RecordBatch:
        arrays = [
            pa.array(values, type=f.type)
            for values, f in zip(self.columns, self.plan.schema, strict=True)
        ]
        arrays += [pa.array(self.files, pa.int32()), pa.array(self.lines, pa.int64())]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.plan.output_schema)
        self.columns = [[] for _ in self.plan.schema]
        self.files, self.lines = [], []
        return batch


def _converters(plan: ReadPlan) -> list[ct.Converter]:
    fmt = plan.format
    if fmt is FileFormat.AVRO:
        return [
            avro_types.to_json_text if f.name in plan.json_columns else (lambda v: v)
            for f in plan.schema
        ]
    dialect = csv_dialect(plan.options)
    return [
        ct.converter(
            f.type,
            text=fmt is FileFormat.CSV,
            squeeze=fmt in TFRECORD_FORMATS,
            null_value=dialect.null_value,
        )
        for f in plan.schema
    ]


def _values(plan: ReadPlan, instance: Any) -> dict[str, Any]:
    """The instance as ``{column: raw value}``; WrongType if its shape does not fit."""
    if plan.format in TFRECORD_FORMATS:
        return {name: values for name, (_kind, values) in instance.items()}
    if plan.format is not FileFormat.JSON:
        return dict(instance)
    if isinstance(instance, list):
        if plan.list_width is None:
            raise ct.WrongType("the instance is a list but the input's instances are objects")
        if len(instance) != plan.list_width:
            raise ct.WrongType(
                f"the instance has {len(instance)} values, expected {plan.list_width}"
            )
        return {str(i): v for i, v in enumerate(instance)}
    if isinstance(instance, dict):
        if plan.list_width is not None:
            raise ct.WrongType(
                f"the instance is an object but the input's instances are lists of"
                f" {plan.list_width} values"
            )
        return instance
    raise ct.WrongType(f"an instance must be a JSON object or a list, got {ct._show(instance)}")


def _convert(names: list[str], converters: list[ct.Converter], values: dict[str, Any]) -> list[Any]:
    row = []
    for name, convert in zip(names, converters, strict=True):
        value = values.get(name)
        if value is None:
            row.append(None)
            continue
        try:
            row.append(convert(value))
        except ct.WrongType as error:
            raise ct.WrongType(f"column '{name}': {error}") from None
    return row


def _decoded_text(plan: ReadPlan, instance: Any) -> str:
    """A decoded instance that does not fit the columns, as JSON text for its error record."""
    if plan.format in TFRECORD_FORMATS:
        instance = {name: values for name, (_kind, values) in instance.items()}
    try:
        return json_line(instance)
    except (TypeError, ValueError):
        return repr(instance)


class _Failures:
    """FAIL_FAST raises at the first bad instance; RECORD_AND_CONTINUE records and goes on
    (writing ``{"raw": text}`` as the instance of its error record, when records are kept)."""

    def __init__(self, policy: TaskPolicy, columns: list[str]) -> None:
        self.policy = policy
        self.task = TaskErrors.for_policy(policy)
        self.raw_key = raw_key(columns)

    def bad(self, kind: str, uri: str, line: int, message: str, raw: str | None = None) -> None:
        if self.policy.record:
            instance = {self.raw_key: raw} if self.task.recording else None
            self.task.record(kind, uri, line, message, instance)
            return
        what = "cannot be read" if kind == UNPARSEABLE else "does not fit the input's columns"
        raise BadInputError(
            f"{self.policy.source_field}: {uri} line {line} {what}: {message}."
            " errorHandling.mode is FAIL_FAST; use RECORD_AND_CONTINUE to skip bad instances."
        )


def _read_records(
    plan: ReadPlan, file_index: int, failures: _Failures, batch: _Batch
) -> Iterator[pa.RecordBatch]:
    uri = plan.files[file_index]
    names = plan.schema.names
    converters = _converters(plan)
    number = 0
    with open_binary(uri, plan.emulator, gzipped(plan.format, uri)) as stream:
        items = iter_items(plan.format, stream, plan.options)
        while True:
            try:
                number, item = next(items)
            except StopIteration:
                break
            except DECOMPRESSION_ERRORS as error:  # the rest of the file cannot be read
                failures.bad(UNPARSEABLE, uri, number + 1, f"cannot decompress: {error}")
                break
            if isinstance(item, Problem):
                failures.bad(item.kind, uri, number, item.message, item.raw)
                if item.fatal:
                    break
                continue
            try:
                row = _convert(names, converters, _values(plan, item))
            except ct.WrongType as error:
                raw = _decoded_text(plan, item) if failures.task.recording else None
                failures.bad(WRONG_TYPE, uri, number, str(error), raw)
                continue
            batch.add(row, file_index, number)
            if len(batch) >= plan.batch_rows:
                yield batch.take()


def _read_parquet(plan: ReadPlan, file_index: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    uri = plan.files[file_index]
    with open_binary(uri, plan.emulator) as stream:
        parquet = pq.ParquetFile(stream)
        present = set(parquet.schema_arrow.names)
        wanted = [name for name in plan.schema.names if name in present]
        start = 1
        for data in parquet.iter_batches(batch_size=plan.batch_rows, columns=wanted):
            rows = data.num_rows
            arrays = [
                data.column(f.name).cast(f.type) if f.name in present else pa.nulls(rows, f.type)
                for f in plan.schema
            ]
            arrays.append(pa.array([file_index] * rows, pa.int32()))
            arrays.append(pa.array(range(start, start + rows), pa.int64()))
            start += rows
            yield pa.RecordBatch.from_arrays(arrays, schema=plan.output_schema)


def read_files(plan: ReadPlan, file_indexes: list[int]) -> Iterator[pa.RecordBatch]:
    """The instances of the files ``file_indexes`` as record batches of ``plan.output_schema``."""
    if plan.format is FileFormat.PARQUET:
        for index in file_indexes:
            yield from _read_parquet(plan, index)
        return
    failures = _Failures(plan.policy, plan.schema.names)
    batch = _Batch(plan)
    for index in file_indexes:
        yield from _read_records(plan, index, failures, batch)
    if len(batch):
        yield batch.take()
    failures.task.close()
