"""The job spec's values: enums and frozen dataclasses, as ``load_spec`` returns them.

Each source and sink keeps its ``options`` as written and gives them typed, by the schemas of
``options.py``, as ``typed_options`` (read again at each use, so a spec built in code is checked
the same way; ``load_spec`` reads them once to report a bad option before anything runs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from spark_job.spec.options import (
    BigQueryReadOptions,
    BigQueryWriteOptions,
    FileReadOptions,
    FileWriteOptions,
    ModelOptions,
    bigquery_read_options,
    bigquery_write_options,
    file_read_options,
    file_write_options,
    model_options,
)


class ResultType(str, enum.Enum):
    DOUBLE = "DOUBLE"
    FLOAT = "FLOAT"
    INTEGER = "INTEGER"
    LONG = "LONG"
    STRING = "STRING"
    ARRAY = "ARRAY"
    #: Extensions: from the model's output schema (the default), and named fields.
    AUTO = "AUTO"
    STRUCT = "STRUCT"


#: Result types of one value (an ARRAY's items, a STRUCT's fields).
SCALAR_RESULT_TYPES = (
    ResultType.DOUBLE, ResultType.FLOAT, ResultType.INTEGER, ResultType.LONG, ResultType.STRING
)  # fmt: skip


class ModelType(str, enum.Enum):
    XGBOOST = "XGBOOST"
    TENSORFLOW = "TENSORFLOW"
    SKLEARN = "SKLEARN"
    PYTORCH = "PYTORCH"
    ONNX = "ONNX"
    PYFUNC = "PYFUNC"
    PYFUNC_V2 = "PYFUNC_V2"


class FileFormat(str, enum.Enum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    AVRO = "AVRO"
    JSON = "JSON"
    TFRECORD = "TFRECORD"
    TFRECORD_GZIP = "TFRECORD_GZIP"


class SaveMode(str, enum.Enum):
    ERRORIFEXISTS = "ERRORIFEXISTS"
    OVERWRITE = "OVERWRITE"
    APPEND = "APPEND"
    IGNORE = "IGNORE"
    ERROR = "ERROR"

    @property
    def fails_if_exists(self) -> bool:
        return self in (SaveMode.ERRORIFEXISTS, SaveMode.ERROR)


class ErrorMode(str, enum.Enum):
    FAIL_FAST = "FAIL_FAST"
    RECORD_AND_CONTINUE = "RECORD_AND_CONTINUE"


SINK_FILE_FORMATS = (FileFormat.JSON, FileFormat.PARQUET, FileFormat.CSV, FileFormat.AVRO)


@dataclass(frozen=True)
class BigQuerySource:
    table: str
    features: list[str] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def typed_options(self) -> BigQueryReadOptions:
        """``options`` read against their schema (UserError naming the key at fault)."""
        return bigquery_read_options(self.options, "bigquerySource.options")


@dataclass(frozen=True)
class GcsSource:
    format: FileFormat
    uris: list[str]
    features: list[str] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def typed_options(self) -> FileReadOptions:
        """``options`` read against the schema of ``format`` and its reader."""
        return file_read_options(self.options, self.format.value, "gcsSource.options")


Source = BigQuerySource | GcsSource


@dataclass(frozen=True)
class ResultField:
    """One field of a STRUCT result."""

    name: str
    type: ResultType


@dataclass(frozen=True)
class ModelResult:
    """``model.result``. AUTO (the default) is resolved from the model's output schema before
    the job scores (:func:`spark_job.scoring.result_types.resolve_result`); DOUBLE without one.
    ``fields`` are a STRUCT's (empty: from the output schema); ``flatten`` writes them as
    ``<result_column>_<field>`` columns instead of one struct column."""

    type: ResultType = ResultType.AUTO
    item_type: ResultType | None = None
    fields: tuple[ResultField, ...] = ()
    flatten: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """``model``. ``params`` (extension) are handed to ``predict(..., params=...)``, as YAML
    gave them; they are checked against the signature's params schema before Spark starts
    (:func:`spark_job.scoring.signature.plan_model`)."""

    uri: str
    type: ModelType = ModelType.PYFUNC_V2
    result: ModelResult = field(default_factory=ModelResult)
    options: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def typed_options(self) -> ModelOptions:
        """``options`` read against their schema (UserError naming the key at fault)."""
        return model_options(self.options, "model.options")


@dataclass(frozen=True)
class BigQuerySink:
    """``errors_table`` (extension): the table of the error records under
    RECORD_AND_CONTINUE (default ``<table>_errors``), in the same forms as ``table``."""

    table: str
    staging_bucket: str | None = None
    result_column: str = "prediction"
    save_mode: SaveMode = SaveMode.ERRORIFEXISTS
    options: dict[str, str] = field(default_factory=dict)
    errors_table: str | None = None

    @property
    def typed_options(self) -> BigQueryWriteOptions:
        """``options`` read against their schema (UserError naming the key at fault)."""
        return bigquery_write_options(self.options, "bigquerySink.options")


@dataclass(frozen=True)
class GcsSink:
    format: FileFormat
    uri: str
    result_column: str = "prediction"
    save_mode: SaveMode = SaveMode.ERRORIFEXISTS
    options: dict[str, str] = field(default_factory=dict)

    @property
    def typed_options(self) -> FileWriteOptions:
        """``options`` read against the schema of ``format`` at ``uri`` (local or gs://)."""
        return file_write_options(self.options, self.format.value, self.uri, "gcsSink.options")


Sink = BigQuerySink | GcsSink


@dataclass(frozen=True)
class ErrorHandling:
    mode: ErrorMode = ErrorMode.FAIL_FAST
    max_error_ratio: float = 0.0


@dataclass(frozen=True)
class Resources:
    """Resource requests, with the seed's names and defaults (quantities as Kubernetes strings)."""

    driver_cpu_request: str = "2"
    driver_memory_request: str = "2Gi"
    executor_cpu_request: str = "2"
    executor_memory_request: str = "2Gi"
    executor_replica: int = 3
    max_worker_count: int | None = None


@dataclass(frozen=True)
class ReportSpec:
    """``report`` (extension): the job report (see docs/report.md). ``enabled`` None: on for
    file sinks, and for a BigQuery sink only when ``path`` is given. ``path``: a folder (local
    or gs://) for ``report.json`` and ``report.html``; None: beside the results (file sinks).
    ``reference``: what drift is measured against: an earlier ``report.json`` (its location),
    or a source (files or a table) scored by the same model in the same job."""

    enabled: bool | None = None
    path: str | None = None
    reference: str | Source | None = None
    drift_threshold: float = 0.2
    fail_on_drift: bool = False

    @property
    def reference_report(self) -> str | None:
        """The location of an earlier report.json given as the reference, if one is."""
        return self.reference if isinstance(self.reference, str) else None

    @property
    def reference_data(self) -> Source | None:
        """The files or table given as the reference, if they are."""
        return None if isinstance(self.reference, str) else self.reference


@dataclass(frozen=True)
class JobSpec:
    source: Source
    model: ModelSpec
    sink: Sink
    kind: str = "PredictionJob"
    version: str = "v1"
    name: str = ""
    error_handling: ErrorHandling = field(default_factory=ErrorHandling)
    resources: Resources = field(default_factory=Resources)
    report: ReportSpec = field(default_factory=ReportSpec)

    @property
    def source_field(self) -> str:
        return "bigquerySource" if isinstance(self.source, BigQuerySource) else "gcsSource"

    @property
    def sink_field(self) -> str:
        return "bigquerySink" if isinstance(self.sink, BigQuerySink) else "gcsSink"

    @property
    def report_enabled(self) -> bool:
        """Whether the job writes a report: ``report.enabled``, else on for file sinks and,
        for a BigQuery sink, when ``report.path`` is given."""
        if self.report.enabled is not None:
            return self.report.enabled
        return isinstance(self.sink, GcsSink) or self.report.path is not None
