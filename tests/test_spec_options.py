"""The option schemas of every source and sink: typed when the spec is loaded (no Spark)."""

from __future__ import annotations

import dataclasses

import pytest

from spark_job.errors import UserError
from spark_job.spec import (
    BigQueryReadOptions,
    BigQuerySink,
    BigQuerySource,
    BigQueryWriteOptions,
    CsvReadOptions,
    FileFormat,
    FileReadOptions,
    FileWriteOptions,
    GcsSink,
    GcsSource,
    parse_spec_text,
)
from spark_job.spec import options as schema


def _bq_source(options: str = "") -> BigQueryReadOptions:
    spec = parse_spec_text(
        f"bigquerySource: {{table: p.d.t, options: {{{options}}}}}\n"
        "model: {uri: /m}\ngcsSink: {format: JSON, uri: /o}\n"
    )
    assert isinstance(spec.source, BigQuerySource)
    return spec.source.typed_options


def _bq_sink(options: str = "") -> BigQueryWriteOptions:
    spec = parse_spec_text(
        "gcsSource: {format: JSON, uri: /i}\nmodel: {uri: /m}\n"
        f"bigquerySink: {{table: p.d.t, staging_bucket: b, options: {{{options}}}}}\n"
    )
    assert isinstance(spec.sink, BigQuerySink)
    return spec.sink.typed_options


def _gcs_source(options: str = "", fmt: str = "JSON", uri: str = "gs://b/in/*") -> FileReadOptions:
    spec = parse_spec_text(
        f"gcsSource: {{format: {fmt}, uri: '{uri}', options: {{{options}}}}}\n"
        "model: {uri: /m}\ngcsSink: {format: JSON, uri: /o}\n"
    )
    assert isinstance(spec.source, GcsSource)
    return spec.source.typed_options


def _gcs_sink(options: str = "", fmt: str = "PARQUET", uri: str = "/out") -> FileWriteOptions:
    spec = parse_spec_text(
        "gcsSource: {format: JSON, uri: /i}\nmodel: {uri: /m}\n"
        f"gcsSink: {{format: {fmt}, uri: '{uri}', options: {{{options}}}}}\n"
    )
    assert isinstance(spec.sink, GcsSink)
    return spec.sink.typed_options


def _refused(build, *args: str) -> str:
    with pytest.raises(UserError) as raised:
        build(*args)
    return str(raised.value)


# ------------------------------------------------------------------------ the schemas
def test_every_key_has_a_type_a_description_and_an_attribute() -> None:
    aliases = {"parallelism", "delimiter"}  # folded into max_parallelism and sep
    for keys, typed in (
        (schema.BIGQUERY_SOURCE_KEYS, BigQueryReadOptions),
        (schema.BIGQUERY_SINK_KEYS, BigQueryWriteOptions),
        (schema.PYTHON_READER_KEYS, FileReadOptions),
        (schema.CSV_KEYS, CsvReadOptions),
    ):
        fields = {f.name: f for f in dataclasses.fields(typed)}
        for key in keys:
            assert key.help and key.type.describe, key.name
            if key.attr not in aliases:
                assert key.attr in fields, key.name
                assert fields[key.attr].default == key.default, key.name


def test_the_writers_codecs_are_the_schemas() -> None:
    from spark_job.formats.file_encoders import COMPRESSION

    assert {fmt.value: codecs for fmt, codecs in COMPRESSION.items()} == schema.COMPRESSIONS


# ---------------------------------------------------------------------- bigquerySource
def test_bigquery_source_defaults() -> None:
    assert _bq_source() == BigQueryReadOptions()
    assert BigQuerySource(table="p.d.t").typed_options == BigQueryReadOptions()


def test_bigquery_source_typed_keys() -> None:
    typed = _bq_source(
        "engine: Storage-API, project: p1, parentProject: bill, location: EU,"
        " filter: ' id > 1 ', maxParallelism: 8, preferredMinParallelism: '2',"
        " readDataFormat: avro, viewsEnabled: true, viewMaterializationProject: mp,"
        " viewMaterializationDataset: md, optimizedEmptyProjection: 'FALSE',"
        " bigNumericDefaultPrecision: 38, bigNumericDefaultScale: 9,"
        " allowMapTypeConversion: false"
    )
    assert dataclasses.replace(typed, connector_options={}) == BigQueryReadOptions(
        engine="storage-api", project="p1", parent_project="bill", location="EU",
        row_filter="id > 1", max_parallelism=8, preferred_min_parallelism=2, data_format="AVRO",
        views_enabled=True, materialization_project="mp", materialization_dataset="md",
        big_numeric_precision=38, big_numeric_scale=9, map_type_conversion=False,
        passthrough={"optimizedEmptyProjection": "FALSE"},
    )  # fmt: skip
    assert "engine" not in typed.connector_options
    assert typed.connector_options["viewsEnabled"] == "true"  # as written, for the connector
    assert _bq_source("parallelism: 4").max_parallelism == 4  # the connector's old name
    assert _bq_source("parallelism: 4, maxParallelism: 2").max_parallelism == 2


def test_bigquery_source_connector_keys_pass_through_untouched() -> None:
    typed = _bq_source("credentialsFile: /k.json, engine: connector, traceJobId: 'X1'")
    assert typed.passthrough == {"credentialsFile": "/k.json", "traceJobId": "X1"}
    assert typed.connector_options == {"credentialsFile": "/k.json", "traceJobId": "X1"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("engine: jar", "bigquerySource.options.engine: 'jar' is not one of auto, connector,"
                        " storage-api."),
        ("readDataFormat: CSV", "bigquerySource.options.readDataFormat: 'CSV' is not one of"
                                " ARROW, AVRO."),
        ("readDataFormat: arow", "Did you mean 'ARROW'?"),
        ("maxParallelism: many", "bigquerySource.options.maxParallelism: expected a positive"
                                 " integer, got 'many'."),
        ("preferredMinParallelism: 0", "preferredMinParallelism: expected a positive integer"),
        ("viewsEnabled: 'yes'", "bigquerySource.options.viewsEnabled: expected true or false,"
                                " got 'yes'."),
        ("bigNumericDefaultPrecision: 50", "bigquerySource.options.bigNumericDefaultPrecision:"
                                           " expected an integer 1–38, got '50'."),
        ("bigNumericDefaultPrecision: 20", "bigNumericDefaultScale: must be at most"
                                           " bigNumericDefaultPrecision (20); it is 38 (its"
                                           " default)."),
        ("table: p.d.x", "bigquerySource.options.table: name the table in bigquerySource.table"
                         " only."),
    ],
)  # fmt: skip
def test_bigquery_source_bad_options(options: str, message: str) -> None:
    assert message in _refused(_bq_source, options)


def test_a_spec_built_in_code_is_checked_when_its_options_are_read() -> None:
    source = BigQuerySource(table="p.d.t", options={"viewsEnabled": "maybe"})
    with pytest.raises(UserError, match="bigquerySource.options.viewsEnabled: expected true"):
        source.typed_options  # noqa: B018
    source.options["viewsEnabled"] = "TRUE"  # read again at each use
    assert source.typed_options.views_enabled is True


# ------------------------------------------------------------------------ bigquerySink
def test_bigquery_sink_defaults() -> None:
    assert _bq_sink() == BigQueryWriteOptions()


def test_bigquery_sink_typed_keys() -> None:
    typed = _bq_sink(
        "engine: AUTO, temporaryGcsBucket: tmp, project: p1, parentProject: bill,"
        " intermediateFormat: AVRO, createDisposition: create_never, partitionField: day,"
        " partitionType: hour, partitionExpirationMs: '86400000', clusteredFields: [a, b],"
        " allowFieldAddition: true, allowFieldRelaxation: 'True', writeMethod: indirect"
    )
    assert dataclasses.replace(typed, connector_options={}) == BigQueryWriteOptions(
        engine="auto", temporary_gcs_bucket="tmp", project="p1", parent_project="bill",
        intermediate_format="avro", create_disposition="CREATE_NEVER", partition_field="day",
        partition_type="HOUR", partition_expiration_ms=86_400_000, clustered_fields=("a", "b"),
        allow_field_addition=True, allow_field_relaxation=True,
        passthrough={"writeMethod": "indirect"},
    )  # fmt: skip
    assert typed.connector_options["clusteredFields"] == "a,b"
    assert typed.connector_options["allowFieldAddition"] == "true"  # YAML true, as text
    assert "engine" not in typed.connector_options
    assert _bq_sink("clusteredFields: ' a , ,b '").clustered_fields == ("a", "b")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("allowFieldAddition: 'yes'", "bigquerySink.options.allowFieldAddition: expected true"
                                      " or false, got 'yes'."),
        ("allowFieldRelaxation: maybe", "allowFieldRelaxation: expected true or false"),
        ("intermediateFormat: csv", "bigquerySink.options.intermediateFormat: 'csv' is not one"
                                    " of parquet, orc, avro."),
        ("createDisposition: CREATE_ALWAYS", "createDisposition: 'CREATE_ALWAYS' is not one of"
                                             " CREATE_IF_NEEDED, CREATE_NEVER."),
        ("partitionType: WEEK", "bigquerySink.options.partitionType: 'WEEK' is not one of DAY,"
                                " HOUR, MONTH, YEAR."),
        ("partitionExpirationMs: -5", "partitionExpirationMs: expected a positive integer,"
                                      " got '-5'."),
        ("clusteredFields: [a, b, c, d, e]", "bigquerySink.options.clusteredFields: BigQuery"
                                             " clusters on at most 4 columns; got 5."),
        ("engine: conector", "Did you mean 'connector'?"),
    ],
)  # fmt: skip
def test_bigquery_sink_bad_options(options: str, message: str) -> None:
    assert message in _refused(_bq_sink, options)


# -------------------------------------------------------------------------- gcsSource
def test_gcs_source_defaults() -> None:
    for fmt in FileFormat:
        assert _gcs_source(fmt=fmt.value) == FileReadOptions()


def test_python_reader_keys_and_csv_dialect() -> None:
    typed = _gcs_source(
        "reader: Python, schema: ' id long, x double ', samplingRows: 5, samplingFiles: 2,"
        " maxPartitionBytes: 1024, batchRows: 100, header: false, sep: ';', quote: \"'\","
        " escape: '\\', nullValue: NA, encoding: latin-1, inferSchema: 'false'",
        "CSV",
    )
    assert typed == FileReadOptions(
        reader="python", schema="id long, x double", sampling_rows=5, sampling_files=2,
        max_partition_bytes=1024, batch_rows=100,
        csv=CsvReadOptions(header=False, sep=";", quote="'", escape="\\", null_value="NA",
                           encoding="latin-1", infer_schema=False),
    )  # fmt: skip
    assert _gcs_source("sep: '\\t'", "CSV").csv.sep == "\t"
    assert _gcs_source("sep: ';', delimiter: '|'", "CSV").csv.sep == "|"  # delimiter wins
    assert _gcs_source("quote: '', escape: ''", "CSV").csv == CsvReadOptions()


@pytest.mark.parametrize(
    ("options", "fmt", "message"),
    [
        ("reader: java", "JSON", "gcsSource.options.reader: 'java' is not one of auto, spark,"
                                 " python."),
        ("samplingRows: 0", "JSON", "gcsSource.options.samplingRows: expected a positive"
                                    " integer, got '0'."),
        ("batchRows: 1.5", "AVRO", "gcsSource.options.batchRows: expected a positive integer"),
        ("header: yes please", "CSV", "gcsSource.options.header: expected true or false, got"
                                      " 'yes please'."),
        ("sep: '::'", "CSV", "gcsSource.options.sep: expected one character, got '::'."),
        ("encoding: utf-9", "CSV", "gcsSource.options.encoding: unknown text encoding"),
        ("multiLine: true", "JSON", "gcsSource.options.multiLine: not an option of the JSON"
                                    " reader."),
        ("samplngRows: 5", "JSON", "samplngRows: not an option of the JSON reader. Did you mean"
                                   " 'samplingRows'? Allowed: batchRows, maxPartitionBytes,"
                                   " reader, samplingFiles, samplingRows, schema."),
        ("header: true", "JSON", "gcsSource.options.header: not an option of the JSON reader."),
        ("headr: true", "CSV", "Did you mean 'header'?"),
        ("reader: python, mergeSchema: true", "PARQUET", "mergeSchema: not an option of the"
                                                         " PARQUET reader."),
        ("reader: spark", "AVRO", "gcsSource.options.reader: Spark has no reader for AVRO"
                                  " here; use reader: python (or auto)."),
        ("reader: spark", "TFRECORD", "Spark has no reader for TFRECORD"),
    ],
)  # fmt: skip
def test_gcs_source_bad_options(options: str, fmt: str, message: str) -> None:
    assert message in _refused(_gcs_source, options, fmt)


def test_sparks_reader_gets_every_key_but_reader_and_schema() -> None:
    typed = _gcs_source("reader: spark, schema: 'x double', primitivesAsString: false, a: b")
    assert typed.reader == "spark" and typed.schema == "x double"
    assert typed.passthrough == {"primitivesAsString": "false", "a": "b"}
    # Spark's keys are Spark's: not typed by the Python reader's rules
    assert _gcs_source("reader: spark, header: 'yes', sep: '::'", "CSV").passthrough == {
        "header": "yes",
        "sep": "::",
    }


def test_auto_parquet_keeps_sparks_keys_and_the_python_reader_refuses_them() -> None:
    typed = _gcs_source("mergeSchema: true, batchRows: 10", "PARQUET")
    assert typed.batch_rows == 10  # the Python reader's own, typed (it may read)
    assert typed.passthrough == {"mergeSchema": "true", "batchRows": "10"}
    with pytest.raises(UserError, match="mergeSchema: not an option of the PARQUET reader"):
        schema.check_python_reader(typed, "PARQUET")
    schema.check_python_reader(_gcs_source("batchRows: 10", "PARQUET"), "PARQUET")
    assert "batchRows: expected" in _refused(_gcs_source, "batchRows: x", "PARQUET")


# ---------------------------------------------------------------------------- gcsSink
def test_gcs_sink_defaults() -> None:
    for fmt in ("PARQUET", "CSV", "JSON", "AVRO"):
        for uri in ("/out", "gs://b/out"):
            typed = _gcs_sink("", fmt, uri)
            assert typed.include_features is True and typed.compression is None
            assert typed.passthrough == {} and typed.writer_options == {}


def test_local_spark_writers_get_every_key_but_include_features() -> None:
    typed = _gcs_sink("includeFeatures: false, compression: LZ4, parquet.block.size: 1024")
    assert typed.include_features is False and typed.compression == "lz4"
    assert typed.passthrough == {"compression": "LZ4", "parquet.block.size": "1024"}
    assert typed.writer_options == typed.passthrough
    csv = _gcs_sink("quoteAll: true, includeFeatures: 'TRUE'", "CSV")
    assert csv.include_features is True and csv.writer_options == {"quoteAll": "true"}


def test_gs_outputs_and_avro_take_only_a_codec() -> None:
    typed = _gcs_sink("compression: ZSTD", "PARQUET", "gs://b/out")
    assert typed.compression == "zstd" and typed.writer_options == {"compression": "zstd"}
    assert _gcs_sink("compression: deflate", "AVRO").writer_options == {"compression": "deflate"}
    assert _gcs_sink("includeFeatures: false", "JSON", "gs://b/o").include_features is False


@pytest.mark.parametrize(
    ("options", "fmt", "uri", "message"),
    [
        ("includeFeatures: 'no'", "JSON", "/o", "gcsSink.options.includeFeatures: expected true"
                                                " or false, got 'no'."),
        ("compression: lz4", "PARQUET", "gs://b/o", "gcsSink.options.compression: 'lz4' is not"
                                                    " one of snappy, gzip, zstd, none."),
        ("compression: snappy", "AVRO", "/o", "gcsSink.options.compression: 'snappy' is not one"
                                              " of null, deflate."),
        ("compression: gzip", "JSON", "gs://b/o", "gcsSink.options.compression: not an option"
                                                  " of JSON output on gs://. Allowed:"
                                                  " includeFeatures."),
        ("includeFeature: false", "CSV", "gs://b/o", "Did you mean 'includeFeatures'?"),
        ("recordName: r", "AVRO", "/o", "gcsSink.options.recordName: not an option of AVRO"
                                        " output (written by spark_job). Allowed: compression,"
                                        " includeFeatures."),
    ],
)  # fmt: skip
def test_gcs_sink_bad_options(options: str, fmt: str, uri: str, message: str) -> None:
    assert message in _refused(_gcs_sink, options, fmt, uri)


# ------------------------------------------------------------ YAML values and consumers
def test_yaml_booleans_numbers_and_lists_arrive_as_text() -> None:
    assert _bq_sink("allowFieldAddition: true").allow_field_addition is True  # unquoted
    assert _bq_sink("allowFieldAddition: False").allow_field_addition is False
    assert _bq_source("maxParallelism: 3").max_parallelism == 3
    assert _gcs_source("header: no", "CSV").csv.header is False  # YAML 1.1: no is false


def test_consumers_read_the_typed_values() -> None:
    """The BigQuery engines and the CSV reader take the typed options as they are."""
    from spark_job.bigquery.engine import connector_options
    from spark_job.bigquery.read_options import ReadOptions, unused
    from spark_job.formats.record_formats import csv_dialect

    written = BigQuerySink(
        table="p.d.t",
        options={"engine": "Connector", "partitionType": "day", "intermediateFormat": "ORC"},
    ).typed_options
    assert (written.engine, written.intermediate_format) == ("connector", "orc")
    assert connector_options(written) == {"partitionType": "day", "intermediateFormat": "ORC"}
    assert written.partition_type == "DAY"
    typed = _bq_source("readDataFormat: avro, x: y")
    assert ReadOptions.parse(typed, "bigquerySource").data_format == "AVRO"
    assert unused(typed) == ["x"]
    dialect = csv_dialect(_gcs_source("delimiter: ';', nullValue: NA", "CSV"))
    assert (dialect.sep, dialect.null_value) == (";", "NA")
    assert csv_dialect({"sep": "\\t"}).sep == "\t"
