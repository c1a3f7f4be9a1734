"""Writing Arrow record batches to one local file as JSON lines, CSV, Parquet or Avro.

Used by tasks that write their partition themselves (gs:// outputs, Avro), where Spark's own
writers cannot be used. JSON lines match Spark's JSON writer: compact objects, columns in
order, nulls kept; dates and timestamps as ISO 8601 text, NaN and infinities as null.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from spark_job.formats import avro_types
from spark_job.spec import FileFormat

EXTENSIONS = {
    FileFormat.JSON: "json",
    FileFormat.CSV: "csv",
    FileFormat.PARQUET: "parquet",
    FileFormat.AVRO: "avro",
}

#: Writer options of the Python file writers (gcsSink.options), with their allowed values.
COMPRESSION = {
    FileFormat.PARQUET: ("snappy", "gzip", "zstd", "none"),
    FileFormat.AVRO: ("null", "deflate"),
}


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def json_line(row: dict[str, Any]) -> str:
    try:
        return json.dumps(row, separators=(",", ":"), default=_json_default, allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: null, as JSON has no such numbers
        return json.dumps(_finite(row), separators=(",", ":"), default=_json_default)


def _write_json(batches: Iterator[pa.RecordBatch], path: str) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        for batch in batches:
            out.writelines(json_line(row) + "\n" for row in batch.to_pylist())
            rows += batch.num_rows
    return rows


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV has no nested values: lists and structs become JSON text."""
    arrays = []
    fields = []
    for column, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_nested(field.type):
            texts = [None if v is None else json_line(v) for v in column.to_pylist()]  # type: ignore[arg-type]
            arrays.append(pa.array(texts, pa.string()))
            fields.append(pa.field(field.name, pa.string()))
        else:
            arrays.append(column)
            fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_nested(f.type) else f for f in schema]
    )


def _write_csv(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: str) -> int:
    import pyarrow.csv as pacsv

    rows = 0
    with pacsv.CSVWriter(path, _csv_schema(schema)) as writer:
        for batch in batches:
            writer.write_batch(_csv_ready(batch))
            rows += batch.num_rows
    return rows


#: Arrow bytes gathered into one Parquet row group. Spark hands over batches of 10k rows; a
#: row group each would make files that readers (Spark, BigQuery loads) plan slowly.
ROW_GROUP_BYTES = 64 * 1024 * 1024


def _write_parquet(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: str, compression: str
) -> int:
    import pyarrow.parquet as pq

    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0
    with pq.ParquetWriter(path, schema, compression=compression) as writer:
        for batch in batches:
            pending.append(batch)
            pending_bytes += batch.nbytes
            rows += batch.num_rows
            if pending_bytes >= ROW_GROUP_BYTES:
                _write_row_group(writer, pa.Table.from_batches(pending, schema))
                pending, pending_bytes = [], 0
        if pending:
            _write_row_group(writer, pa.Table.from_batches(pending, schema))
    return rows


def _write_row_group(writer: Any, table: pa.Table) -> None:
    writer.write_table(table, row_group_size=max(1, table.num_rows))


def write_avro(
    batches: Iterator[pa.RecordBatch], avro_schema: dict[str, Any], path: str, codec: str
) -> int:
    """Write ``batches`` as records of ``avro_schema`` (see :mod:`spark_job.formats.avro_types`)."""
    import fastavro

    parsed = fastavro.parse_schema(avro_schema)
    rows = 0
    with open(path, "wb") as out:
        writer = fastavro.write.Writer(out, parsed, codec=codec)
        for batch in batches:
            for record in batch.to_pylist():
                writer.write(record)
            rows += batch.num_rows
        writer.flush()
    return rows


def _write_orc(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: str) -> int:
    import pyarrow.orc as orc

    rows = 0
    with orc.ORCWriter(path) as writer:
        for batch in batches:
            writer.write(pa.Table.from_batches([batch]))
            rows += batch.num_rows
        if not rows:  # the schema still goes into the file
            writer.write(schema.empty_table())
    return rows


@dataclass(frozen=True)
class Encoding:
    """How a task encodes its Arrow batches into one file: picklable, given once on the driver.

    ``kind`` is ``json``, ``csv``, ``parquet``, ``avro`` or ``orc``; ``compression`` the
    codec (None: the format's default); ``nullable_items`` false writes Avro arrays whose items
    are not a union with null, as BigQuery's REPEATED fields are.
    """

    kind: str
    compression: str | None = None
    nullable_items: bool = True

    @classmethod
    def for_file_format(cls, fmt: FileFormat, options: dict[str, str]) -> Encoding:
        if fmt not in EXTENSIONS:
            raise ValueError(f"cannot write {fmt.value} files")
        return cls(EXTENSIONS[fmt], options.get("compression"))

    @property
    def extension(self) -> str:
        return self.kind

    def avro_schema(self, schema: pa.Schema) -> dict[str, Any]:
        return avro_types.avro_schema(schema, nullable_items=self.nullable_items)

    def write(self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: str) -> int:
        """Write ``batches`` (rows of ``schema``) to ``path``; returns the number of rows."""
        if self.kind == "json":
            return _write_json(batches, path)
        if self.kind == "csv":
            return _write_csv(batches, schema, path)
        if self.kind == "parquet":
            return _write_parquet(batches, schema, path, self.compression or "snappy")
        if self.kind == "avro":
            return write_avro(batches, self.avro_schema(schema), path, self.compression or "null")
        if self.kind == "orc":
            return _write_orc(batches, schema, path)
        raise ValueError(f"cannot write {self.kind} files")


def write_file(
    fmt: FileFormat,
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    path: str,
    options: dict[str, str],
) -> int:
    """Write ``batches`` (rows of ``schema``) to ``path`` as ``fmt``; returns the row count."""
    return Encoding.for_file_format(fmt, options).write(batches, schema, path)
