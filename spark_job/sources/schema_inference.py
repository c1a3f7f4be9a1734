"""The input's columns and types, found by a small Spark job that samples files on executors.

The driver never opens an input file: it sends up to ``samplingFiles`` file names (spread over
the input) to executors, each reads the first ``samplingRows`` instances of its file (or just
the schema, for PARQUET and AVRO), and the driver merges what they saw.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.sources import column_types as ct
from spark_job.sources.file_reader import TFRECORD_FORMATS, FileSample, sample_file
from spark_job.spec import FileFormat, FileReadOptions
from spark_job.storage.input_files import InputFile


@dataclass(frozen=True)
class InputSchema:
    schema: pa.Schema
    list_width: int | None = None  # JSON instances are lists of this many values
    json_columns: frozenset[str] = frozenset()


def spark_compatible(dtype: pa.DataType) -> pa.DataType:
    """An Arrow type Spark's Arrow conversion accepts, for ``dtype`` as found in a file."""
    if pa.types.is_timestamp(dtype):  # Spark's TIMESTAMP; naive values are taken as UTC
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_dictionary(dtype):
        return spark_compatible(dtype.value_type)
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return pa.binary()
    if pa.types.is_unsigned_integer(dtype):
        return pa.int64() if dtype.bit_width >= 32 else pa.int32()
    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_date64(dtype):
        return pa.date32()
    if (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    ):
        return pa.list_(spark_compatible(dtype.value_type))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, spark_compatible(f.type)) for f in dtype])
    return dtype


def _sample_indexes(count: int, limit: int) -> list[int]:
    if count <= limit:
        return list(range(count))
    step = count / limit
    return sorted({int(i * step) for i in range(limit)})


def sample(
    spark: SparkSession,
    files: list[InputFile],
    fmt: FileFormat,
    options: FileReadOptions,
    emulator: str | None,
    rows: int,
    max_files: int,
) -> list[FileSample]:
    uris = [files[i].uri for i in _sample_indexes(len(files), max_files)]
    parallelism = max(1, min(len(uris), spark.sparkContext.defaultParallelism * 2))
    job = functools.partial(sample_file, fmt, options, emulator, rows)
    spark.sparkContext.setJobDescription("spark_job: sample input files for their schema")
    try:
        return spark.sparkContext.parallelize(uris, parallelism).map(job).collect()
    finally:
        spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]


def _merge_arrow(samples: list[FileSample], field: str) -> InputSchema:
    schemas = [s.arrow for s in samples if s.arrow is not None]
    try:
        merged = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise UserError(f"{field}: the input files' schemas do not agree: {error}") from None
    fields = [pa.field(f.name, spark_compatible(f.type)) for f in merged]
    json_columns = frozenset(name for s in samples for name in s.json_columns)
    return InputSchema(pa.schema(fields), json_columns=json_columns)


def _merge_records(samples: list[FileSample], fmt: FileFormat) -> InputSchema:
    order: list[str] = []
    summaries: dict[str, ct.Summary] = {}
    objects = lists = 0
    widths: dict[int, int] = {}
    for item in samples:
        objects += item.objects
        lists += item.lists
        for width, n in item.widths.items():
            widths[width] = widths.get(width, 0) + n
        for name in item.order:
            if name not in summaries:
                summaries[name] = ct.new_summary()
                order.append(name)
            ct.merge(summaries[name], item.summaries[name])
    list_width = None
    if fmt is FileFormat.JSON and lists > objects:
        list_width = max(widths.items(), key=lambda item: (item[1], item[0]))[0]
        order = [str(i) for i in range(list_width)]
    squeeze = fmt in TFRECORD_FORMATS
    fields = [
        pa.field(name, ct.choose_type(summaries.get(name, ct.new_summary()), squeeze))
        for name in order
    ]
    return InputSchema(pa.schema(fields), list_width=list_width)


def infer_schema(
    spark: SparkSession,
    files: list[InputFile],
    fmt: FileFormat,
    options: FileReadOptions,
    emulator: str | None,
    rows: int,
    max_files: int,
    field: str,
) -> InputSchema:
    samples = sample(spark, files, fmt, options, emulator, rows, max_files)
    for item in samples:
        if item.error:
            raise UserError(f"{field}: {item.uri} is not a readable {fmt.value} file: {item.error}")
    if fmt in (FileFormat.PARQUET, FileFormat.AVRO):
        return _merge_arrow(samples, field)
    return _merge_records(samples, fmt)


def struct_from_ddl(ddl: str) -> Any:
    """Spark's DDL parser: ``StructType.fromDDL`` (Spark 4), else (Spark 3.5, which lacks it)
    the same parser in the JVM through ``_parse_datatype_string`` (needs a SparkContext)."""
    from pyspark.sql.types import StructType, _parse_datatype_string

    from_ddl = getattr(StructType, "fromDDL", None)
    struct = from_ddl(ddl) if from_ddl is not None else _parse_datatype_string(ddl)
    if not isinstance(struct, StructType):  # "long": a type, not a schema
        raise ValueError(f"{ddl!r} is a type, not a list of columns")
    return struct


def schema_from_ddl(ddl: str, fmt: FileFormat, field: str) -> InputSchema:
    """``gcsSource.options.schema`` (Spark DDL, e.g. ``"id long, x double"``) as the input's
    schema; columns named ``0``, ``1``, ... mean JSON list instances."""
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        struct = struct_from_ddl(ddl)
        arrow = to_arrow_schema(struct)  # type: ignore[arg-type]
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        message = lines[0] if lines else type(error).__name__  # Spark's text starts with \n
        raise UserError(f"{field}.options.schema: not a valid schema ({message}).") from None
    schema = pa.schema([pa.field(f.name, spark_compatible(f.type)) for f in arrow])
    names = schema.names
    positional = fmt is FileFormat.JSON and names == [str(i) for i in range(len(names))]
    return InputSchema(schema, list_width=len(names) if positional and names else None)
