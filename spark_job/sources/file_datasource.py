"""A Spark Python Data Source reading a list of files (gs:// or local), several per partition.

The driver plans (which files go to which partition) and never opens a file; each task reads
its files with :func:`spark_job.sources.file_reader.read_files` and yields Arrow batches.

    spark.dataSource.register(FileListDataSource)
    spark.read.format("spark_job_files").schema(schema).option("plan", plan_text).load()
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cloudpickle
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from spark_job.sources.file_reader import ReadPlan, read_files
from spark_job.sources.parquet_fragments import balance
from spark_job.storage.input_files import InputFile

FORMAT_NAME = "spark_job_files"


@dataclass
class FileGroup(InputPartition):
    """The input files (indexes into ReadPlan.files) one task reads, in order."""

    files: list[int]


def group_files(files: list[InputFile], parallelism: int, max_bytes: int) -> list[list[int]]:
    """Spread files over partitions: at least ``parallelism`` partitions (when there are that
    many files), more when the input exceeds ``max_bytes`` per partition; largest files are
    placed first on the least loaded partition."""
    if not files:
        return []
    total = sum(f.size for f in files)
    wanted = max(parallelism, math.ceil(total / max_bytes) if max_bytes > 0 else 1)
    return balance([f.size for f in files], wanted)


def encode_plan(plan: ReadPlan, groups: list[list[int]]) -> str:
    return base64.b64encode(cloudpickle.dumps((plan, groups))).decode("ascii")


def decode_plan(text: str) -> tuple[ReadPlan, list[list[int]]]:
    plan, groups = cloudpickle.loads(base64.b64decode(text))
    return plan, groups


class FileListReader(DataSourceReader):
    def __init__(self, plan: ReadPlan, groups: list[list[int]]) -> None:
        self.plan = plan
        self.groups = groups

    def partitions(self) -> list[InputPartition]:
        return [FileGroup(files) for files in self.groups]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        assert isinstance(partition, FileGroup)
        yield from read_files(self.plan, partition.files)


class FileListDataSource(DataSource):
    """Reads the files of a pickled ReadPlan (option ``plan``); the schema is given by the
    caller (``.schema(...)``)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def schema(self) -> StructType:
        plan, _groups = decode_plan(self.options["plan"])
        return spark_schema(plan.output_schema)

    def reader(self, schema: StructType) -> DataSourceReader:
        plan, groups = decode_plan(self.options["plan"])
        return FileListReader(plan, groups)


def spark_schema(schema: pa.Schema) -> StructType:
    return from_arrow_schema(schema, prefer_timestamp_ntz=False)


def load(spark: SparkSession, plan: ReadPlan, groups: list[list[int]]) -> DataFrame:
    """The DataFrame of the plan's files (passthrough + features + origin columns)."""
    schema = spark_schema(plan.output_schema)
    if not groups:
        return spark.createDataFrame([], schema)
    spark.dataSource.register(FileListDataSource)
    return (
        spark.read.format(FORMAT_NAME)
        .schema(schema)
        .option("plan", encode_plan(plan, groups))
        .load()
    )
