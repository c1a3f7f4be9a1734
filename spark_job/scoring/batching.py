"""How many rows go to the model at a time: Arrow batches sized by the width of a row.

Every batch costs a fixed overhead (a model call, MLflow's input checks, pandas frames); small
batches of narrow rows waste it, large batches of wide rows waste memory. The job aims at
about ``TARGET_BATCH_BYTES`` of input per batch, between ``MIN_ROWS`` and ``MAX_ROWS`` rows,
unless ``spark.sql.execution.arrow.maxRecordsPerBatch`` is set.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    IntegerType,
    MapType,
    ShortType,
    StringType,
    StructType,
)

log = logging.getLogger(__name__)

BATCH_ROWS_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
TARGET_BATCH_BYTES = 8 * 1024 * 1024
MIN_ROWS, MAX_ROWS = 1_000, 100_000

#: Guesses for values whose size the schema does not tell.
_TEXT_BYTES, _NESTED_BYTES = 32, 64


def value_bytes(data_type: DataType) -> int:
    """An estimate of one value's size in an Arrow batch."""
    if isinstance(data_type, (BooleanType, ByteType)):
        return 1
    if isinstance(data_type, ShortType):
        return 2
    if isinstance(data_type, (IntegerType, DateType)):
        return 4
    if isinstance(data_type, (StringType, BinaryType)):
        return _TEXT_BYTES
    if isinstance(data_type, StructType):
        return sum(value_bytes(f.dataType) for f in data_type.fields)
    if isinstance(data_type, (ArrayType, MapType)):
        return _NESTED_BYTES
    return 8  # long, double, timestamp, decimal up to 18 digits; wider decimals are rare


def batch_rows(schema: StructType) -> int:
    """Rows per batch for input rows of ``schema``."""
    row_bytes = max(1, sum(value_bytes(f.dataType) for f in schema.fields))
    return max(MIN_ROWS, min(MAX_ROWS, TARGET_BATCH_BYTES // row_bytes))


class BatchSize:
    """The job's Arrow batch size, set on the session while the job runs.

    A size already set for the application or session (``spark-submit --conf``, or
    ``spark.conf.set``) is left alone.
    """

    def __init__(self, spark: SparkSession, schema: StructType) -> None:
        self._spark = spark
        configured = spark.conf.get(BATCH_ROWS_CONF, None)
        self.set_here = configured is None
        self.rows = batch_rows(schema) if self.set_here else int(configured)
        if self.set_here:
            spark.conf.set(BATCH_ROWS_CONF, str(self.rows))
        log.info("Arrow batches of %d rows", self.rows)

    def restore(self) -> None:
        if self.set_here:
            self._spark.conf.unset(BATCH_ROWS_CONF)
            self.set_here = False
