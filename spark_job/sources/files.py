"""Files as the job's input (``gcsSource``): gs:// or local, wildcards, six formats.

Two readers:

- **Spark's own readers** (``spark.read.parquet``...) for local PARQUET — the fast path, as
  Parquet rows are typed and cannot be malformed — and, with ``options.reader: spark``, for
  local CSV/JSON or for gs:// when the gcs-connector jar is on the classpath;
- **the Python reader** (a Spark Python Data Source, see ``file_datasource.py``) for everything
  else: gs:// without the connector, AVRO, TFRECORD(_GZIP), and JSON/CSV, whose instances it
  isolates one by one (a bad line is an error naming its file and line, not a failed job).

``options`` understood by the Python reader: ``reader`` (auto | spark | python), ``schema``
(Spark DDL; skips inference), ``samplingRows`` (1000), ``samplingFiles`` (32),
``maxPartitionBytes`` (134217728), ``batchRows`` (10000), and for CSV ``header``,
``sep``/``delimiter``, ``quote``, ``escape``, ``nullValue``, ``encoding``, ``inferSchema``.
With Spark's readers, options go to Spark unchanged.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.formats.record_formats import CSV_OPTIONS
from spark_job.scoring.row_errors import ORIGIN_COLUMNS, RowErrors, TaskPolicy
from spark_job.sources.base import SourceReader, select_columns
from spark_job.sources.file_datasource import group_files, load
from spark_job.sources.file_reader import ReadPlan
from spark_job.sources.parquet_rows import FooterRowCount
from spark_job.sources.schema_inference import InputSchema, infer_schema, schema_from_ddl
from spark_job.spec import ErrorHandling, FileFormat, GcsSource, option_flag
from spark_job.storage import gcs
from spark_job.storage.input_files import InputFile, expand_all, local_path

__all__ = ["FileSource", "local_path"]

log = logging.getLogger(__name__)

AUTO, SPARK, PYTHON = "auto", "spark", "python"
GCS_CONNECTOR_CLASS = "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"
SPARK_FORMATS = (FileFormat.PARQUET, FileFormat.CSV, FileFormat.JSON)

#: Options of the Python reader, with defaults (CSV dialect options are added for CSV).
READER_OPTIONS = {
    "reader": AUTO,
    "schema": "",
    "samplingRows": "1000",
    "samplingFiles": "32",
    "maxPartitionBytes": str(128 * 1024 * 1024),
    "batchRows": "10000",
}


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

    def __init__(
        self,
        spec: GcsSource,
        field: str = "gcsSource",
        error_handling: ErrorHandling | None = None,
    ) -> None:
        self.spec = spec
        self.field = field
        self.error_handling = error_handling or ErrorHandling()
        self.reader = spec.options.get("reader", AUTO).strip().lower()
        self._row_count: FooterRowCount | None = None
        if self.reader not in (AUTO, SPARK, PYTHON):
            raise UserError(
                f"{field}.options.reader: '{self.reader}' is not one of auto, spark, python."
            )

    # ------------------------------------------------------------------ choosing
    def _use_spark(self, spark: SparkSession, files: list[InputFile]) -> bool:
        fmt = self.spec.format
        remote = any(gcs.is_gcs(f.uri) for f in files)
        if self.reader == PYTHON:
            return False
        if self.reader == SPARK:
            if fmt not in SPARK_FORMATS:
                raise UserError(
                    f"{self.field}.options.reader: Spark has no reader for {fmt.value} here;"
                    " use reader: python (or auto)."
                )
            if remote and not has_gcs_connector(spark):
                raise UserError(
                    f"{self.field}.options.reader: Spark cannot read gs:// without the"
                    " gcs-connector jar; use reader: python (or auto)."
                )
            return True
        if fmt is not FileFormat.PARQUET:
            return False
        return not remote or has_gcs_connector(spark)

    def check_options(self) -> None:
        """The Python reader's options, when it is sure to read (with Spark's readers the
        options are Spark's own, checked by Spark)."""
        if self.reader == PYTHON or (
            self.reader == AUTO and self.spec.format is not FileFormat.PARQUET
        ):
            options = self._options()
            for key in ("samplingRows", "samplingFiles", "maxPartitionBytes", "batchRows"):
                self._int_option(options, key)

    # ------------------------------------------------------------------ Spark's readers
    def _read_with_spark(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:
        options = {k: v for k, v in self.spec.options.items() if k not in ("reader", "schema")}
        reader = spark.read.options(**options)
        if self.spec.options.get("schema"):
            reader = reader.schema(self.spec.options["schema"])
        paths = [f.uri for f in files]
        fmt = self.spec.format
        if fmt is FileFormat.PARQUET:
            return reader.parquet(*paths)
        if fmt is FileFormat.CSV:
            reader = reader.option("header", options.get("header", "true"))
            return reader.option("inferSchema", options.get("inferSchema", "true")).csv(paths)
        return reader.json(paths)

    # ------------------------------------------------------------------ Python reader
    def _options(self) -> dict[str, str]:
        allowed = dict(READER_OPTIONS)
        if self.spec.format is FileFormat.CSV:
            allowed.update(CSV_OPTIONS)
        for key in self.spec.options:
            if key not in allowed:
                names = ", ".join(sorted(allowed))
                raise UserError(
                    f"{self.field}.options.{key}: not an option of the {self.spec.format.value}"
                    f" reader; allowed: {names}. (With options.reader: spark, local PARQUET, CSV"
                    " and JSON files are read by Spark with its own options.)"
                )
        merged = {**allowed, **self.spec.options}
        if self.spec.format is FileFormat.CSV:
            option_flag(merged, "header", True, f"{self.field}.options")
        return merged

    def _int_option(self, options: dict[str, str], key: str) -> int:
        try:
            value = int(options[key])
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(
                f"{self.field}.options.{key}: expected a positive integer, got '{options[key]}'."
            )
        return value

    def _input_schema(
        self, spark: SparkSession, files: list[InputFile], options: dict[str, str]
    ) -> InputSchema:
        if options["schema"].strip():
            return schema_from_ddl(options["schema"], self.spec.format, self.field)
        return infer_schema(
            spark,
            files,
            self.spec.format,
            options,
            gcs.emulator_host(),
            self._int_option(options, "samplingRows"),
            self._int_option(options, "samplingFiles"),
            self.field,
        )

    def _read_with_python(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:
        options = self._options()
        found = self._input_schema(spark, files, options)
        if not option_flag(options, "inferSchema", True, f"{self.field}.options"):  # CSV: text
            text = pa.schema([pa.field(name, pa.string()) for name in found.schema.names])
            found = InputSchema(text, found.list_width, found.json_columns)
        available = found.schema.names
        if not available:  # no instance anywhere (empty files): the spec's columns, as text
            names = [*self.spec.passthrough, *self.spec.features]
            found = InputSchema(pa.schema([pa.field(n, pa.string()) for n in names]))
            available = names
        passthrough, features = select_columns(
            available, self.spec.features, self.spec.passthrough, self.field
        )
        columns = [*passthrough, *features]
        errors = self.row_errors or RowErrors(self.error_handling, source_field=self.field)
        errors.source_field = self.field
        errors.files = [f.uri for f in files]
        policy: TaskPolicy = errors.task_view()
        plan = ReadPlan(
            format=self.spec.format,
            files=errors.files,
            schema=pa.schema([found.schema.field(name) for name in columns]),
            options=options,
            policy=policy,
            emulator=gcs.emulator_host(),
            list_width=found.list_width,
            json_columns=found.json_columns,
            batch_rows=self._int_option(options, "batchRows"),
        )
        groups = group_files(
            files,
            spark.sparkContext.defaultParallelism,
            self._int_option(options, "maxPartitionBytes"),
        )
        return load(spark, plan, groups).select(*columns, *ORIGIN_COLUMNS)

    # ------------------------------------------------------------------ interface
    def read(self, spark: SparkSession) -> DataFrame:
        files = expand_all(self.spec.uris, self.field)
        if self.spec.format is FileFormat.PARQUET and self.wants_row_count:
            self._row_count = FooterRowCount(spark, files, gcs.emulator_host()).start()
        if self._use_spark(spark, files):
            log.info(
                "%s: reading %d file(s) with Spark's %s reader",
                self.field, len(files), self.spec.format.value,
            )  # fmt: skip
            frame = self._read_with_spark(spark, files)
            passthrough, features = select_columns(
                frame.columns, self.spec.features, self.spec.passthrough, self.field
            )
            return frame.select(*passthrough, *features)
        log.info("%s: reading %d file(s) with the Python reader", self.field, len(files))
        return self._read_with_python(spark, files)

    def expected_rows(self) -> int | None:
        return self._row_count.result() if self._row_count else self.estimated_rows

    def cancel(self) -> None:
        if self._row_count is not None:
            self._row_count.stop()

    def close(self) -> None:
        self.cancel()
