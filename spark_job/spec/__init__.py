"""The job spec: Merlin's ``PredictionJob`` YAML plus spark_job's extensions.

Parsed and validated before any SparkSession starts (``parse.py``), into the frozen values of
``types.py``; every problem is a :class:`~spark_job.errors.UserError` naming the field path.
Each source's and sink's ``options`` are typed by their schema in ``options.py``
(``typed_options``).
"""

from spark_job.spec.fields import camel_to_snake, option_flag, snake_to_camel
from spark_job.spec.options import (
    BigQueryReadOptions,
    BigQueryWriteOptions,
    CsvReadOptions,
    FileReadOptions,
    FileWriteOptions,
)
from spark_job.spec.parse import load_spec, parse_spec, parse_spec_text
from spark_job.spec.types import (
    SINK_FILE_FORMATS,
    BigQuerySink,
    BigQuerySource,
    ErrorHandling,
    ErrorMode,
    FileFormat,
    GcsSink,
    GcsSource,
    JobSpec,
    ModelResult,
    ModelSpec,
    ModelType,
    ReportSpec,
    Resources,
    ResultField,
    ResultType,
    SaveMode,
    Sink,
    Source,
)

__all__ = [
    "SINK_FILE_FORMATS", "BigQueryReadOptions", "BigQuerySink", "BigQuerySource",
    "BigQueryWriteOptions", "CsvReadOptions", "ErrorHandling", "ErrorMode", "FileFormat",
    "FileReadOptions", "FileWriteOptions", "GcsSink", "GcsSource", "JobSpec", "ModelResult",
    "ModelSpec", "ModelType", "ReportSpec", "Resources", "ResultField", "ResultType",
    "SaveMode", "Sink", "Source",
    "camel_to_snake", "load_spec", "option_flag", "parse_spec", "parse_spec_text",
    "snake_to_camel",
]  # fmt: skip
