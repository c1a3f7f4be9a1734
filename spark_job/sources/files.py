"""Files as the job's input (``gcsSource``): gs:// or local, wildcards, six formats.

Two readers:

- **Spark's own readers** (``spark.read.parquet``...) for local PARQUET — the fast path, as
  Parquet rows are typed and cannot be malformed — and, with ``options.reader: spark``, for
  local CSV/JSON or for gs:// when the gcs-connector jar is on the classpath;
- **the Python reader** (Python tasks over planned groups of files, see ``file_groups.py``)
  for everything else: gs:// without the connector, AVRO, TFRECORD(_GZIP), and JSON/CSV, whose
  instances it isolates one by one (a bad line is an error naming its file and line, not a
  failed job).

``options`` are typed when the spec is loaded (``GcsSource.typed_options``; the schema, with
each key's default, is ``PYTHON_READER_KEYS`` and ``CSV_KEYS`` of :mod:`spark_job.spec.options`):
the Python reader's ``reader``, ``schema``, ``samplingRows``, ``samplingFiles``,
``maxPartitionBytes``, ``batchRows`` and the CSV dialect; with Spark's readers, every key but
``reader`` and ``schema`` goes to Spark unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.scoring.row_errors import ORIGIN_COLUMNS, RowErrors, TaskPolicy
from spark_job.sources.base import SourceReader, TaskInput, select_columns
from spark_job.sources.file_groups import group_files, load
from spark_job.sources.file_reader import ReadPlan
from spark_job.sources.parquet_fragments import (
    ParquetTaskRead,
    footer_schema,
    plain_arrow,
    task_read,
)
from spark_job.sources.parquet_rows import FooterRowCount, columns_with_nulls
from spark_job.sources.schema_inference import InputSchema, infer_schema, schema_from_ddl
from spark_job.spec import ErrorHandling, FileFormat, GcsSource
from spark_job.spec.options import check_python_reader
from spark_job.storage import gcs
from spark_job.storage.input_files import InputFile, expand_all, field_of, local_path
from spark_job.storage.locations import Place, input_location

__all__ = ["FileSource", "local_path"]

log = logging.getLogger(__name__)

AUTO, SPARK, PYTHON = "auto", "spark", "python"
GCS_CONNECTOR_CLASS = "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"


def has_gcs_connector(spark: SparkSession) -> bool:
    """True when Spark itself can read gs:// (the gcs-connector jar is on the classpath)."""
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Class.forName(GCS_CONNECTOR_CLASS)  # type: ignore[union-attr]
        return True
    except Exception:
        return False


class FileSource(SourceReader):
    """Reads ``gcsSource``: the files named by ``uri``/``uris`` in ``format``."""

    def __init__(self, spec: GcsSource, field: str = "gcsSource") -> None:
        self.spec = spec
        self.field = field
        #: Typed (UserError for a bad option): ``load_spec`` checked them already.
        self.options = spec.typed_options
        self.reader = self.options.reader
        self._row_count: FooterRowCount | None = None
        self._files: list[InputFile] = []
        self._read: DataFrame | None = None  # what read() returned
        self._task_read: ParquetTaskRead | None = None  # how, when the scoring tasks read

    # ------------------------------------------------------------------ choosing
    def _use_spark(self, spark: SparkSession, files: list[InputFile]) -> bool:
        fmt = self.spec.format
        remote = any(gcs.is_gcs(f.uri) for f in files)
        if self.reader == PYTHON:
            return False
        if self.reader == SPARK:  # a format Spark reads (checked with the options)
            if remote and not has_gcs_connector(spark):
                raise UserError(
                    f"{self.field}.options.reader: Spark cannot read gs:// without the"
                    " gcs-connector jar; use reader: python (or auto)."
                )
            return True
        if fmt is not FileFormat.PARQUET:
            return False
        return not remote or has_gcs_connector(spark)

    def input_places(self) -> list[Place]:
        places = []
        uris = self.spec.uris
        for index, uri in enumerate(uris):
            try:
                where = input_location(uri)
            except ValueError:  # not a URI: reading it says so
                continue
            places.append(Place(field_of(self.field, uris, index), uri, where))
        return places

    def check_options(self) -> None:
        """Nothing left to check: the options were typed when the source was built (and when
        the spec was loaded); with Spark's readers the keys are Spark's own, checked by Spark."""

    # ------------------------------------------------------------------ Spark's readers
    def _read_with_spark(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:
        options = self.options.passthrough  # every key but reader and schema, as written
        reader = spark.read.options(**options)
        if self.options.schema:
            reader = reader.schema(self.options.schema)
        paths = [f.uri for f in files]
        fmt = self.spec.format
        if fmt is FileFormat.PARQUET:
            return reader.parquet(*paths)
        if fmt is FileFormat.CSV:
            reader = reader.option("header", options.get("header", "true"))
            return reader.option("inferSchema", options.get("inferSchema", "true")).csv(paths)
        return reader.json(paths)

    # ------------------------------------------------------------------ Python reader
    def _input_schema(self, spark: SparkSession, files: list[InputFile]) -> InputSchema:
        options = self.options
        if options.schema:
            return schema_from_ddl(options.schema, self.spec.format, self.field)
        return infer_schema(
            spark,
            files,
            self.spec.format,
            options,
            gcs.emulator_host(),
            options.sampling_rows,
            options.sampling_files,
            self.field,
        )

    def _read_with_python(
        self, spark: SparkSession, files: list[InputFile], errors: RowErrors
    ) -> DataFrame:
        options = self.options
        # auto + PARQUET that Spark cannot reach: keys meant for Spark's reader are refused
        check_python_reader(options, self.spec.format.value, f"{self.field}.options")
        found = self._input_schema(spark, files)
        if not options.csv.infer_schema:  # CSV: every column as text
            text = pa.schema([pa.field(name, pa.string()) for name in found.schema.names])
            found = InputSchema(text, found.list_width, found.json_columns)
        available = found.schema.names
        if not available:  # no instance anywhere (empty files): the spec's columns, as text
            names = [*self.spec.passthrough, *(self.spec.features or self.model_inputs or [])]
            found = InputSchema(pa.schema([pa.field(n, pa.string()) for n in names]))
            available = names
            self.estimated_rows = 0  # and the types are guesses: no signature check
        passthrough, features = select_columns(
            available, self.spec.features, self.spec.passthrough, self.field,
            model_inputs=self.model_inputs,
        )  # fmt: skip
        columns = [*passthrough, *features]
        self.input_files = tuple(f.uri for f in files)
        policy: TaskPolicy = errors.task_view(self.input_files)
        plan = ReadPlan(
            format=self.spec.format,
            files=list(self.input_files),
            schema=pa.schema([found.schema.field(name) for name in columns]),
            options=options,
            policy=policy,
            emulator=gcs.emulator_host(),
            list_width=found.list_width,
            json_columns=found.json_columns,
            batch_rows=options.batch_rows,
        )
        groups = group_files(
            files, spark.sparkContext.defaultParallelism, options.max_partition_bytes
        )
        return load(spark, plan, groups).select(*columns, *ORIGIN_COLUMNS)

    # ------------------------------------------------------------------ interface
    def _read_in_tasks(self, spark: SparkSession, files: list[InputFile]) -> DataFrame | None:
        """Local PARQUET under ``reader: auto`` with no option for Spark's reader, whose columns
        read alike in pyarrow and Spark (by the first file's footer, as Spark's reader takes
        its schema from one file): Python tasks that read their byte ranges of the files with
        pyarrow (see :mod:`spark_job.sources.parquet_fragments`). Else None."""
        options = self.options
        fmt = self.spec.format
        if fmt is not FileFormat.PARQUET or self.reader != AUTO or options.passthrough:
            return None
        if options.schema or not any(f.size for f in files):
            return None
        if any(gcs.is_gcs(f.uri) for f in files):  # gs://: as before (Spark's or Python reader)
            return None
        first = next(f for f in files if f.size)
        schema = footer_schema(first.uri, gcs.emulator_host())
        if schema is None:  # Spark's reader says what is wrong with it
            return None
        passthrough, features = select_columns(
            schema.names, self.spec.features, self.spec.passthrough, self.field,
            model_inputs=self.model_inputs,
        )  # fmt: skip
        fields = [schema.field(name) for name in [*passthrough, *features]]
        if not all(plain_arrow(f.type) for f in fields):
            return None
        # Without the origin columns, as Spark's reader: a failed instance is shown whole.
        self._task_read = task_read(
            files, fields, spark.sparkContext.defaultParallelism, options.max_partition_bytes,
            options.batch_rows, self.field,
        )  # fmt: skip
        log.info(
            "%s: %d Parquet file(s) read by %d scoring tasks with pyarrow",
            self.field, len(files), len(self._task_read.groups),
        )  # fmt: skip
        tasks = TaskInput(len(self._task_read.groups), self._task_read)
        return tasks.read_frame(spark, self._task_read.spark_schema)

    def read(
        self, spark: SparkSession, errors: RowErrors | None = None, count_rows: bool = False
    ) -> DataFrame:
        files = self._files = expand_all(self.spec.uris, self.field)
        if self.spec.format is FileFormat.PARQUET and count_rows:
            self._row_count = FooterRowCount(spark, files, gcs.emulator_host()).start()
        in_tasks = self._read_in_tasks(spark, files)
        if in_tasks is not None:
            self._read = in_tasks
            return in_tasks
        if self._use_spark(spark, files):
            log.info(
                "%s: reading %d file(s) with Spark's %s reader",
                self.field, len(files), self.spec.format.value,
            )  # fmt: skip
            frame = self._read_with_spark(spark, files)
            passthrough, features = select_columns(
                frame.columns, self.spec.features, self.spec.passthrough, self.field,
                model_inputs=self.model_inputs,
            )  # fmt: skip
            return frame.select(*passthrough, *features)
        log.info("%s: reading %d file(s) with the Python reader", self.field, len(files))
        errors = errors or RowErrors(ErrorHandling(), source_field=self.field)
        return self._read_with_python(spark, files, errors)

    def task_input(self, frame: DataFrame, batch_rows: int) -> TaskInput | None:
        """The Parquet input read by the scoring tasks themselves, when ``frame`` is what
        :meth:`read` planned that way (see :mod:`spark_job.sources.parquet_fragments`)."""
        if self._task_read is None or frame is not self._read:
            return None
        read = replace(self._task_read, batch_rows=batch_rows)
        return TaskInput(len(read.groups), read)

    def expected_rows(self) -> int | None:
        return self._row_count.result() if self._row_count else self.estimated_rows

    def columns_with_nulls(self, spark: SparkSession, names: list[str]) -> set[str]:
        """PARQUET: by the footers' statistics (a small Spark job); other formats cannot tell."""
        if self.spec.format is not FileFormat.PARQUET:
            return set()
        return columns_with_nulls(spark, self._files, names, gcs.emulator_host())

    def cancel(self) -> None:
        if self._row_count is not None:
            self._row_count.stop()

    def close(self) -> None:
        self.cancel()
