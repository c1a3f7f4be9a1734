"""A Spark Python Data Source over one BigQuery Storage Read session.

The driver creates the read session (see :mod:`spark_job.sources.bigquery`) and hands its
streams to this source as options; Spark makes one partition per stream and each executor
reads its stream and yields Arrow record batches — no per-row Python objects for ARROW.

    spark.dataSource.register(BigQueryStorageDataSource)
    spark.read.format("spark_job_bigquery").option("session", session_json).load()
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import StructType

FORMAT_NAME = "spark_job_bigquery"


@dataclass(frozen=True)
class SessionHandle:
    """What executors need of a read session: its streams and how rows are encoded."""

    streams: list[str]
    data_format: str  # ARROW or AVRO
    arrow_schema_b64: str = ""
    avro_schema: str = ""
    emulator_host: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SessionHandle:
        return cls(**json.loads(text))


class StreamPartition(InputPartition):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.stream = stream


def _target_arrow_schema(schema: StructType) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def _conform_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    """BigQuery's Arrow types where Spark's differ: TIME as microseconds, wide decimals as text."""
    if array.type == target:
        return array
    if pa.types.is_time(array.type) and pa.types.is_integer(target):
        return array.cast(pa.time64("us")).view(pa.int64())
    return array.cast(target)


def conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    columns = [_conform_array(batch.column(field.name), field.type) for field in target]
    return pa.RecordBatch.from_arrays(columns, schema=target)


def _avro_value(value: Any, target: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_integer(target) and hasattr(value, "hour"):  # TIME → microseconds of day
        return (
            (value.hour * 60 + value.minute) * 60 + value.second
        ) * 1_000_000 + value.microsecond
    if pa.types.is_struct(target):
        return {f.name: _avro_value(value.get(f.name), f.type) for f in target}
    if pa.types.is_list(target):
        return [_avro_value(v, target.value_type) for v in value]
    return value


def avro_batches(
    responses: Iterator[Any], avro_schema: dict[str, Any], target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    import fastavro

    parsed = fastavro.parse_schema(avro_schema)
    for response in responses:
        payload = io.BytesIO(response.avro_rows.serialized_binary_rows)
        rows = [fastavro.schemaless_reader(payload, parsed) for _ in range(response.row_count)]
        columns = {
            field.name: [_avro_value(row.get(field.name), field.type) for row in rows]
            for field in target
        }
        yield pa.RecordBatch.from_pydict(columns, schema=target)


class BigQueryStorageReader(DataSourceReader):
    def __init__(self, handle: SessionHandle, schema: StructType) -> None:
        self.handle = handle
        self.schema = schema

    def partitions(self) -> list[InputPartition]:
        return [StreamPartition(stream) for stream in self.handle.streams]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        from spark_job.bigquery.clients import bigquery_read_client
        from spark_job.bigquery.retry import TRANSIENT_RETRY

        assert isinstance(partition, StreamPartition)
        target = _target_arrow_schema(self.schema)
        responses = bigquery_read_client(self.handle.emulator_host).read_rows(
            partition.stream, retry=TRANSIENT_RETRY
        )
        if self.handle.data_format == "AVRO":
            yield from avro_batches(responses, json.loads(self.handle.avro_schema), target)
            return
        arrow_schema = pa.ipc.read_schema(
            pa.py_buffer(base64.b64decode(self.handle.arrow_schema_b64))
        )
        for response in responses:
            serialized = response.arrow_record_batch.serialized_record_batch
            if not serialized:
                continue
            batch = pa.ipc.read_record_batch(pa.py_buffer(serialized), arrow_schema)
            yield conform_batch(batch, target)


class BigQueryStorageDataSource(DataSource):
    """Options: ``session`` (a :class:`SessionHandle` as JSON), ``schema`` (Spark schema JSON)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def schema(self) -> StructType:
        return StructType.fromJson(json.loads(self.options["schema"]))

    def reader(self, schema: StructType) -> DataSourceReader:
        return BigQueryStorageReader(SessionHandle.from_json(self.options["session"]), schema)
