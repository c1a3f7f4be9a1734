"""The Python reader's tasks: a list of files (gs:// or local) spread over tasks, several each.

The driver plans (which files go to which task) and never opens a file; task ``k`` reads the
files of group ``k`` with :func:`spark_job.sources.file_reader.read_files` and yields Arrow
batches. The tasks are Spark's ``mapInArrow`` over ``spark.range(groups)``: a form both Spark
lines have (3.5 has no Python Data Source API).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from spark_job.sources.base import TaskInput
from spark_job.sources.file_reader import ReadPlan, read_files
from spark_job.sources.parquet_fragments import balance
from spark_job.storage.input_files import InputFile


def group_files(files: list[InputFile], parallelism: int, max_bytes: int) -> list[list[int]]:
    """Spread files over partitions: at least ``parallelism`` partitions (when there are that
    many files), more when the input exceeds ``max_bytes`` per partition; largest files are
    placed first on the least loaded partition."""
    if not files:
        return []
    total = sum(f.size for f in files)
    wanted = max(parallelism, math.ceil(total / max_bytes) if max_bytes > 0 else 1)
    return balance([f.size for f in files], wanted)


@dataclass(frozen=True)
class FileGroupsRead:
    """Task ``k`` reads the files of ``groups[k]`` (indexes into ``plan.files``), in order.
    Picklable: shipped to the tasks with the plan."""

    plan: ReadPlan
    groups: list[list[int]]

    def __call__(self, numbers: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in numbers:
            for number in batch.column(0).to_pylist():
                yield from read_files(self.plan, self.groups[number])


def spark_schema(schema: pa.Schema) -> StructType:
    return from_arrow_schema(schema, prefer_timestamp_ntz=False)


def load(spark: SparkSession, plan: ReadPlan, groups: list[list[int]]) -> DataFrame:
    """The DataFrame of the plan's files (passthrough + features + origin columns)."""
    schema = spark_schema(plan.output_schema)
    if not groups:
        return spark.createDataFrame([], schema)
    return TaskInput(len(groups), FileGroupsRead(plan, groups)).read_frame(spark, schema)
