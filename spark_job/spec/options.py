"""One option schema per source and sink: the ``options:`` keys the job acts on, typed.

Each ``options`` map is read once, when the spec is loaded (``GcsSink.typed_options`` and the
like), into a frozen value; every problem is a :class:`~spark_job.errors.UserError` naming
``<source or sink>.options.<key>``. Keys the job does not act on are kept as written:

==================  =========================================================================
bigquerySource      open: the connector's own keys pass through (``passthrough``)
bigquerySink        open, as bigquerySource
gcsSource           ``reader: spark``: open, Spark's reader gets every key but reader and
                    schema; ``reader: python``, or ``auto`` for any format but PARQUET: closed
                    (the Python reader's keys); ``auto`` + PARQUET: Spark reads when it can,
                    else the Python reader, which then refuses keys it does not know
gcsSink             local PARQUET, CSV, JSON: open, Spark's writer gets every key but
                    includeFeatures; gs:// outputs and AVRO: closed (includeFeatures,
                    compression where the format has codecs)
model               open: ``castInputs``; other keys (Merlin's) are kept, unused
==================  =========================================================================

Every option the connector reads is also handed to it as written, typed keys included (only
``engine`` is ours alone): ``connector_options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from spark_job.errors import UserError
from spark_job.spec.fields import did_you_mean
from spark_job.spec.option_kinds import (
    CODEC,
    DDL,
    ENCODING,
    FLAG,
    POSITIVE_INT,
    TEXT,
    VERBATIM,
    Key,
    character,
    choice,
    comma_list,
    integer,
    read_keys,
    refuse_unknown,
)

# ------------------------------------------------------------------------------ BigQuery
ENGINES = ("auto", "connector", "storage-api")
DATA_FORMATS = ("ARROW", "AVRO")
INTERMEDIATE_FORMATS = ("parquet", "orc", "avro")
CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")
PARTITION_TYPES = ("DAY", "HOUR", "MONTH", "YEAR")
#: The connector's default (precision, scale) of a BIGNUMERIC column without parameters.
BIGNUMERIC_DEFAULT = (76, 38)

ENGINE = Key("engine", "engine", choice(*ENGINES), "auto",
             "auto: the connector when its jar is on the classpath, else storage-api;"
             " never handed to the connector")  # fmt: skip
_PROJECT = Key("project", "project", TEXT, None, "the table's project when its name has none")
_PARENT = Key("parentProject", "parent_project", TEXT, None,
              "the project billed for read sessions, query and load jobs")  # fmt: skip

BIGQUERY_SOURCE_KEYS = (
    ENGINE, _PROJECT, _PARENT,
    Key("location", "location", TEXT, None, "where query jobs (views, counts) run"),
    Key("filter", "row_filter", TEXT, None, "row restriction, BigQuery SQL"),
    Key("maxParallelism", "max_parallelism", POSITIVE_INT, None,
        "most read streams (none: BigQuery decides)"),
    Key("parallelism", "parallelism", POSITIVE_INT, None, "old name of maxParallelism"),
    Key("preferredMinParallelism", "preferred_min_parallelism", POSITIVE_INT, None,
        "read streams wanted (none: 3 × Spark's default parallelism, at most maxParallelism)"),
    Key("readDataFormat", "data_format", choice(*DATA_FORMATS), "ARROW", "read stream format"),
    Key("viewsEnabled", "views_enabled", FLAG, False,
        "read views (materialized into a temporary table)"),
    Key("viewMaterializationProject", "materialization_project", TEXT, None,
        "project of a view's temporary table (default: the view's)"),
    Key("viewMaterializationDataset", "materialization_dataset", TEXT, None,
        "dataset of a view's temporary table (default: the view's)"),
    Key("bigNumericDefaultPrecision", "big_numeric_precision", integer(1, 38),
        BIGNUMERIC_DEFAULT[0], "precision of BIGNUMERIC columns without parameters"),
    Key("bigNumericDefaultScale", "big_numeric_scale", integer(0, 38), BIGNUMERIC_DEFAULT[1],
        "scale of BIGNUMERIC columns without parameters (at most the precision)"),
    Key("allowMapTypeConversion", "map_type_conversion", FLAG, True,
        "REPEATED STRUCT<key, value> columns read as maps"),
)  # fmt: skip

INTERMEDIATE_FORMAT = Key("intermediateFormat", "intermediate_format",
                          choice(*INTERMEDIATE_FORMATS), "parquet",
                          "format of the files staged for the load job")  # fmt: skip
BIGQUERY_SINK_KEYS = (
    ENGINE, _PROJECT, _PARENT,
    Key("temporaryGcsBucket", "temporary_gcs_bucket", TEXT, None,
        "staging bucket when bigquerySink.staging_bucket is not given"),
    INTERMEDIATE_FORMAT,
    Key("createDisposition", "create_disposition", choice(*CREATE_DISPOSITIONS),
        "CREATE_IF_NEEDED", "CREATE_NEVER: the table must exist"),
    Key("partitionField", "partition_field", TEXT, None, "column a new table is partitioned on"),
    Key("partitionType", "partition_type", choice(*PARTITION_TYPES), None,
        "time partitioning of a new table (DAY when only partitionField is given)"),
    Key("partitionExpirationMs", "partition_expiration_ms", POSITIVE_INT, None,
        "partition expiration of a new table"),
    Key("clusteredFields", "clustered_fields",
        comma_list(4, "BigQuery clusters on at most 4 columns"), (),
        "clustering columns of a new table"),
    Key("allowFieldAddition", "allow_field_addition", FLAG, False,
        "APPEND may add columns to the table"),
    Key("allowFieldRelaxation", "allow_field_relaxation", FLAG, False,
        "APPEND may make REQUIRED columns NULLABLE"),
)  # fmt: skip


def _connector_options(options: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in options.items() if key != ENGINE.name}


@dataclass(frozen=True)
class BigQueryOptions:
    """What the source's and the sink's typed options share: the engine, the projects, and the
    keys as written for the connector."""

    engine: str = "auto"
    project: str | None = None
    parent_project: str | None = None
    #: Keys the job does not act on (the connector's own), as written.
    passthrough: dict[str, str] = field(default_factory=dict)
    #: What the connector engine hands Spark's reader or writer: every key but ``engine``.
    connector_options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BigQueryReadOptions(BigQueryOptions):
    """``bigquerySource.options``, typed (see :data:`BIGQUERY_SOURCE_KEYS`)."""

    location: str | None = None
    row_filter: str | None = None
    max_parallelism: int | None = None  # or the old name ``parallelism``
    preferred_min_parallelism: int | None = None
    data_format: str = "ARROW"
    views_enabled: bool = False
    materialization_project: str | None = None
    materialization_dataset: str | None = None
    big_numeric_precision: int = BIGNUMERIC_DEFAULT[0]
    big_numeric_scale: int = BIGNUMERIC_DEFAULT[1]
    map_type_conversion: bool = True


def bigquery_read_options(
    options: Mapping[str, str], path: str = "bigquerySource.options"
) -> BigQueryReadOptions:
    if "table" in options:
        raise UserError(f"{path}.table: name the table in {path.rsplit('.', 1)[0]}.table only.")
    values, rest = read_keys(options, BIGQUERY_SOURCE_KEYS, path)
    old_name = values.pop("parallelism")
    if values["max_parallelism"] is None:
        values["max_parallelism"] = old_name
    precision, scale = values["big_numeric_precision"], values["big_numeric_scale"]
    if scale > precision:
        default = "" if "bigNumericDefaultScale" in options else " (its default)"
        raise UserError(
            f"{path}.bigNumericDefaultScale: must be at most bigNumericDefaultPrecision"
            f" ({precision}); it is {scale}{default}."
        )
    return BigQueryReadOptions(
        **values, passthrough=rest, connector_options=_connector_options(options)
    )


@dataclass(frozen=True)
class BigQueryWriteOptions(BigQueryOptions):
    """``bigquerySink.options``, typed (see :data:`BIGQUERY_SINK_KEYS`)."""

    temporary_gcs_bucket: str | None = None
    intermediate_format: str = "parquet"
    create_disposition: str = "CREATE_IF_NEEDED"
    partition_field: str | None = None
    partition_type: str | None = None
    partition_expiration_ms: int | None = None
    clustered_fields: tuple[str, ...] = ()
    allow_field_addition: bool = False
    allow_field_relaxation: bool = False


def bigquery_write_options(
    options: Mapping[str, str], path: str = "bigquerySink.options"
) -> BigQueryWriteOptions:
    values, rest = read_keys(options, BIGQUERY_SINK_KEYS, path)
    return BigQueryWriteOptions(
        **values, passthrough=rest, connector_options=_connector_options(options)
    )


# ------------------------------------------------------------------------------ files
READERS = ("auto", "spark", "python")
#: Formats Spark's own readers (``reader: spark``) and local writers handle here.
SPARK_FORMATS = ("PARQUET", "CSV", "JSON")

READER = Key("reader", "reader", choice(*READERS), "auto",
             "auto: Spark's reader for PARQUET it can reach, else the Python reader")  # fmt: skip
SCHEMA = Key("schema", "schema", DDL, None, "the input's columns; skips type inference")
PYTHON_READER_KEYS = (
    READER, SCHEMA,
    Key("samplingRows", "sampling_rows", POSITIVE_INT, 1000,
        "instances sampled per file for type inference"),
    Key("samplingFiles", "sampling_files", POSITIVE_INT, 32,
        "files sampled for type inference"),
    Key("maxPartitionBytes", "max_partition_bytes", POSITIVE_INT, 128 * 1024 * 1024,
        "input bytes per partition above which more partitions are used"),
    Key("batchRows", "batch_rows", POSITIVE_INT, 10_000, "rows per Arrow batch read"),
)  # fmt: skip
CSV_KEYS = (
    Key("header", "header", FLAG, True, "the first line names the columns"),
    Key("sep", "sep", character(tab_escape=True), ",", "field separator (\\t: a tab)"),
    Key("delimiter", "delimiter", character(tab_escape=True), None, "same as sep; wins"),
    Key("quote", "quote", character(), '"', "quote character"),
    Key("escape", "escape", character(), None, "escape character (none: quotes doubled)"),
    Key("nullValue", "null_value", VERBATIM, "", "text read as null"),
    Key("encoding", "encoding", ENCODING, "utf-8", "text encoding of the files"),
    Key("inferSchema", "infer_schema", FLAG, True, "false: every column read as text"),
)  # fmt: skip


@dataclass(frozen=True)
class CsvReadOptions:
    """The Python reader's CSV dialect (``sep`` is ``delimiter`` when given, else ``sep``)."""

    header: bool = True
    sep: str = ","
    quote: str = '"'
    escape: str | None = None
    null_value: str = ""
    encoding: str = "utf-8"
    infer_schema: bool = True


def csv_read_options(options: Mapping[str, str], path: str = "gcsSource.options") -> CsvReadOptions:
    """The CSV keys of ``options`` (others are not looked at)."""
    values, _ = read_keys(options, CSV_KEYS, path)
    delimiter = values.pop("delimiter")
    if delimiter is not None:
        values["sep"] = delimiter
    return CsvReadOptions(**values)


@dataclass(frozen=True)
class FileReadOptions:
    """``gcsSource.options``, typed: the Python reader's keys (defaults when Spark reads)."""

    reader: str = "auto"
    schema: str | None = None
    sampling_rows: int = 1000
    sampling_files: int = 32
    max_partition_bytes: int = 128 * 1024 * 1024
    batch_rows: int = 10_000
    csv: CsvReadOptions = field(default_factory=CsvReadOptions)
    #: What Spark's reader is given: every key but reader and schema, as written. Empty
    #: when only the Python reader can read (reader: python, or auto for all but PARQUET).
    passthrough: dict[str, str] = field(default_factory=dict)


def python_reader_keys(fmt: str) -> list[str]:
    """The option names the Python reader knows for format ``fmt`` (e.g. ``CSV``)."""
    keys = [*PYTHON_READER_KEYS, *(CSV_KEYS if fmt == "CSV" else ())]
    return [key.name for key in keys]


_SPARK_NOTE = (
    " (With options.reader: spark, local PARQUET, CSV and JSON files are read by Spark with its"
    " own options.)"
)


def check_python_reader(
    options: FileReadOptions, fmt: str, path: str = "gcsSource.options"
) -> None:
    """The Python reader reads after all (``auto`` + PARQUET, Spark cannot reach the files):
    UserError for a key it does not know."""
    allowed = python_reader_keys(fmt)
    unknown = {key: text for key, text in options.passthrough.items() if key not in allowed}
    refuse_unknown(unknown, allowed, path, f"the {fmt} reader", _SPARK_NOTE)


def file_read_options(
    options: Mapping[str, str], fmt: str, path: str = "gcsSource.options"
) -> FileReadOptions:
    """``gcsSource.options`` for input format ``fmt`` (``PARQUET``, ``CSV``, ``TFRECORD``...)."""
    reader = READER.read(options, path)
    spark_options = {k: v for k, v in options.items() if k not in (READER.name, SCHEMA.name)}
    if reader == "spark":
        if fmt not in SPARK_FORMATS:
            raise UserError(
                f"{path}.reader: Spark has no reader for {fmt} here; use reader: python (or auto)."
            )
        return FileReadOptions(reader=reader, schema=SCHEMA.read(options, path),
                               passthrough=spark_options)  # fmt: skip
    values, rest = read_keys(options, PYTHON_READER_KEYS, path)
    csv = csv_read_options(rest, path) if fmt == "CSV" else CsvReadOptions()
    may_use_spark = reader == "auto" and fmt == "PARQUET"
    if not may_use_spark:
        allowed = python_reader_keys(fmt)
        unknown = {key: text for key, text in options.items() if key not in allowed}
        refuse_unknown(unknown, allowed, path, f"the {fmt} reader", _SPARK_NOTE)
    return FileReadOptions(**values, csv=csv, passthrough=spark_options if may_use_spark else {})


#: Codecs spark_job's own file writers take (gs:// outputs, AVRO), per format.
COMPRESSIONS = {"PARQUET": ("snappy", "gzip", "zstd", "none"), "AVRO": ("null", "deflate")}
INCLUDE_FEATURES = Key("includeFeatures", "include_features", FLAG, True,
                       "false: passthrough + result columns only")  # fmt: skip
SPARK_CODEC = Key("compression", "compression", CODEC, None, "codec of Spark's writer")


def gcs_sink_keys(fmt: str, uri: str) -> tuple[Key, ...]:
    """The keys of a ``gcsSink`` writing ``fmt`` at ``uri``: with Spark's local writers, also
    any other key (Spark's); with spark_job's own (gs://, AVRO), exactly these."""
    if not uri.startswith("gs://") and fmt in SPARK_FORMATS:
        return INCLUDE_FEATURES, SPARK_CODEC
    codecs = COMPRESSIONS.get(fmt)
    if not codecs:
        return (INCLUDE_FEATURES,)
    return INCLUDE_FEATURES, Key("compression", "compression", choice(*codecs), None, "codec")


@dataclass(frozen=True)
class FileWriteOptions:
    """``gcsSink.options``, typed."""

    include_features: bool = True
    #: The codec asked for, lower case (None: the writer's default).
    compression: str | None = None
    #: Spark's local writer (PARQUET, CSV, JSON): every key but includeFeatures, as written.
    #: Empty for outputs spark_job's tasks write (gs://, AVRO).
    passthrough: dict[str, str] = field(default_factory=dict)
    spark_writer: bool = False

    @property
    def writer_options(self) -> dict[str, str]:
        """What the file writer is given: Spark's, ``passthrough``; spark_job's, the codec."""
        if self.spark_writer:
            return dict(self.passthrough)
        return {"compression": self.compression} if self.compression else {}


def file_write_options(
    options: Mapping[str, str], fmt: str, uri: str, path: str = "gcsSink.options"
) -> FileWriteOptions:
    """``gcsSink.options`` for output format ``fmt`` at ``uri`` (local, or ``gs://``)."""
    keys = gcs_sink_keys(fmt, uri)
    values, rest = read_keys(options, keys, path)
    if SPARK_CODEC in keys:  # Spark's local writer
        rest = {k: v for k, v in options.items() if k != INCLUDE_FEATURES.name}
        return FileWriteOptions(**values, passthrough=rest, spark_writer=True)
    remote = uri.startswith("gs://")
    what = f"{fmt} output on gs://" if remote else f"{fmt} output (written by spark_job)"
    refuse_unknown(rest, [key.name for key in keys], path, what)
    return FileWriteOptions(**values)


# ------------------------------------------------------------------------------ model
MODEL_KEYS = (
    Key("castInputs", "cast_inputs", FLAG, False,
        "cast every input MLflow would refuse to the type the model's signature declares"
        " (values may lose precision)"),
)  # fmt: skip


@dataclass(frozen=True)
class ModelOptions:
    """``model.options``, typed. Open: Merlin's ``Model.options`` map must be accepted as it is,
    so keys other than :data:`MODEL_KEYS` are kept in ``passthrough`` (and not used)."""

    cast_inputs: bool = False
    passthrough: dict[str, str] = field(default_factory=dict)


def model_options(options: Mapping[str, str], path: str = "model.options") -> ModelOptions:
    values, rest = read_keys(options, MODEL_KEYS, path)
    ours = [key.name for key in MODEL_KEYS]
    # A near miss of one of ours is a typo (refused); anything else is Merlin's, kept.
    near = {name: text for name, text in rest.items() if did_you_mean(name, ours)}
    refuse_unknown(near, ours, path, "spark_job's model")
    return ModelOptions(**values, passthrough=dict(rest))
