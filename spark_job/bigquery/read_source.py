"""Reading one BigQuery Storage Read session in Python tasks.

The driver creates the read session (see :mod:`spark_job.sources.bigquery`) and hands its
streams to the tasks in a :class:`StreamTaskRead`; task ``k`` (Spark's ``mapInArrow`` over
``spark.range(streams)``, a form both Spark lines have) reads stream ``k`` and yields Arrow
record batches — no per-row Python objects for ARROW.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.types import StructType


@dataclass(frozen=True)
class SessionHandle:
    """What executors need of a read session: its streams and how rows are encoded."""

    streams: list[str]
    data_format: str  # ARROW or AVRO
    arrow_schema_b64: str = ""
    avro_schema: str = ""
    emulator_host: str | None = None


def target_arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark expects for ``schema`` (what ``read`` must yield)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)


# --------------------------------------------------------------------------------- ARROW
def conform_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """``array`` as ``target``, where BigQuery's Arrow types differ from Spark's: TIME as
    microseconds, parameterized or BIGNUMERIC decimals, lists of key/value records as maps,
    and any of these nested in lists and structs. Zero-copy when the types already agree."""
    if array.type == target:
        return array
    if pa.types.is_map(target) and pa.types.is_list(array.type):
        entries = array.values
        return pa.MapArray.from_arrays(
            array.offsets,
            conform_array(entries.field("key"), target.key_type),
            conform_array(entries.field("value"), target.item_type),
            type=target,
            mask=array.is_null() if array.null_count else None,
        )
    if pa.types.is_list(target) and pa.types.is_list(array.type):
        return pa.ListArray.from_arrays(
            array.offsets,
            conform_array(array.values, target.value_type),
            type=target,
            mask=array.is_null() if array.null_count else None,
        )
    if pa.types.is_struct(target) and pa.types.is_struct(array.type):
        children = [conform_array(array.field(f.name), f.type) for f in target]
        return pa.StructArray.from_arrays(
            children, fields=list(target), mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_time(array.type) and pa.types.is_integer(target):
        return array.cast(pa.time64("us")).cast(target)
    return array.cast(target)  # decimals (checked: no digit is dropped), timestamps


def conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    columns = [conform_array(batch.column(field.name), field.type) for field in target]
    return pa.RecordBatch.from_arrays(columns, schema=target)


def arrow_batches(
    responses: Iterator[Any], arrow_schema: pa.Schema, target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    for response in responses:
        serialized = response.arrow_record_batch.serialized_record_batch
        if serialized:
            batch = pa.ipc.read_record_batch(pa.py_buffer(serialized), arrow_schema)
            yield conform_batch(batch, target)


# ---------------------------------------------------------------------------------- AVRO
def _time_micros(value: dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def _naive_datetime(value: Any) -> dt.datetime:
    """DATETIME in Avro: BigQuery sends ISO text (``logicalType: datetime``); tolerate a
    timestamp too (bqemulator sends ``timestamp-micros``)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


Converter = Callable[[Any], Any]


def avro_converter(target: pa.DataType) -> Converter | None:
    """How to turn a decoded Avro value into what Arrow takes for ``target``; None: as is."""
    if pa.types.is_integer(target):
        return lambda v: _time_micros(v) if isinstance(v, dt.time) else v
    if pa.types.is_timestamp(target) and target.tz is None:
        return _naive_datetime
    if pa.types.is_map(target):
        key = avro_converter(target.key_type) or (lambda v: v)
        item = avro_converter(target.item_type) or (lambda v: v)
        return lambda entries: [(key(e["key"]), _none_or(item, e.get("value"))) for e in entries]
    if pa.types.is_list(target):
        inner = avro_converter(target.value_type)
        if inner is None:
            return None
        return lambda values: [_none_or(inner, v) for v in values]
    if pa.types.is_struct(target):
        parts = [(f.name, avro_converter(f.type)) for f in target]
        return lambda record: {
            name: _none_or(convert, record.get(name)) if convert else record.get(name)
            for name, convert in parts
        }
    return None


def _none_or(convert: Converter, value: Any) -> Any:
    return None if value is None else convert(value)


def avro_batches(
    responses: Iterator[Any], avro_schema: dict[str, Any], target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Avro rows decoded one by one (fastavro), then built into columns: the slower format."""
    import fastavro

    parsed = fastavro.parse_schema(avro_schema)
    converters = [(field.name, avro_converter(field.type)) for field in target]
    for response in responses:
        payload = io.BytesIO(response.avro_rows.serialized_binary_rows)
        rows = [fastavro.schemaless_reader(payload, parsed) for _ in range(response.row_count)]
        columns = {}
        for name, convert in converters:
            values = [row.get(name) for row in rows]
            columns[name] = [_none_or(convert, v) for v in values] if convert else values
        yield pa.RecordBatch.from_pydict(columns, schema=target)


# ---------------------------------------------------------------------------- a stream
def stream_batches(
    handle: SessionHandle, stream: str, target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Executor: every row of one read stream of ``handle``, as batches of ``target``."""
    from spark_job.bigquery.clients import bigquery_read_client
    from spark_job.bigquery.retry import TRANSIENT_RETRY

    # The client resumes a broken stream at the last offset it received; the retry covers
    # the call that opens it.
    responses = bigquery_read_client(handle.emulator_host).read_rows(stream, retry=TRANSIENT_RETRY)
    if handle.data_format == "AVRO":
        yield from avro_batches(responses, json.loads(handle.avro_schema), target)
    else:
        schema_bytes = base64.b64decode(handle.arrow_schema_b64)
        arrow_schema = pa.ipc.read_schema(pa.py_buffer(schema_bytes))
        yield from arrow_batches(responses, arrow_schema, target)


@dataclass(frozen=True)
class StreamTaskRead:
    """The read session read by the scoring tasks themselves (``SourceReader.task_input``):
    task ``k`` is given its number and reads stream ``k``, as one process would read it —
    no JVM rows between the stream and the model. Picklable."""

    handle: SessionHandle
    schema_json: str  # the Spark schema of the rows, as the data source declares it

    @property
    def tasks(self) -> int:
        return len(self.handle.streams)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        target = target_arrow_schema(StructType.fromJson(json.loads(self.schema_json)))
        for batch in batches:
            for number in batch.column(0).to_pylist():
                yield from stream_batches(self.handle, self.handle.streams[number], target)
