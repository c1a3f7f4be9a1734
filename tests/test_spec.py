"""The job spec: Merlin's PredictionJob accepted as-is, our extensions, strict validation."""

from __future__ import annotations

import textwrap

import pytest

from spark_job.errors import UserError
from spark_job.spec import (
    BigQuerySink,
    BigQuerySource,
    ErrorMode,
    FileFormat,
    GcsSink,
    GcsSource,
    ModelType,
    ResultType,
    SaveMode,
    parse_spec_text,
)

MERLIN_README_SAMPLE = """\
kind: PredictionJob
version: v1
name: integration-test
bigquerySource:
  table: "project.dataset.table_iris"
  features:
    - sepal_length
    - sepal_width
    - petal_length
    - petal_width
model:
  type: PYFUNC_V2
  uri: gs://bucket-name/e2e/artifacts/model
  result:
    type: DOUBLE
bigquerySink:
  table: "project.dataset.table_iris_result"
  result_column: "prediction"
  save_mode: OVERWRITE
  options:
    project: "project"
    temporaryGcsBucket: "bucket-name"
"""

FILES_SPEC = """\
gcsSource:
  format: PARQUET
  uri: /data/in
  features: [a, b]
model:
  uri: /models/m
gcsSink:
  format: JSON
  uri: /data/out
"""


def test_merlin_readme_sample_is_accepted_verbatim() -> None:
    spec = parse_spec_text(MERLIN_README_SAMPLE)
    assert spec.kind == "PredictionJob" and spec.version == "v1"
    assert spec.name == "integration-test"
    assert spec.source == BigQuerySource(
        table="project.dataset.table_iris",
        features=["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )
    assert spec.model.type is ModelType.PYFUNC_V2
    assert spec.model.uri == "gs://bucket-name/e2e/artifacts/model"
    assert spec.model.result.type is ResultType.DOUBLE
    assert spec.sink == BigQuerySink(
        table="project.dataset.table_iris_result",
        result_column="prediction",
        save_mode=SaveMode.OVERWRITE,
        options={"project": "project", "temporaryGcsBucket": "bucket-name"},
    )


def test_snake_case_names_are_the_same_fields() -> None:
    snake = MERLIN_README_SAMPLE.replace("bigquerySource", "bigquery_source").replace(
        "bigquerySink", "bigquery_sink"
    )
    camel = MERLIN_README_SAMPLE.replace("result_column", "resultColumn").replace(
        "save_mode", "saveMode"
    )
    assert parse_spec_text(snake) == parse_spec_text(MERLIN_README_SAMPLE)
    assert parse_spec_text(camel) == parse_spec_text(MERLIN_README_SAMPLE)


def test_defaults() -> None:
    spec = parse_spec_text(FILES_SPEC)
    assert isinstance(spec.source, GcsSource) and isinstance(spec.sink, GcsSink)
    assert spec.source.uris == ["/data/in"]
    # AUTO: from the model's output schema, DOUBLE without one (scoring/result_types.py)
    assert spec.model.result.type is ResultType.AUTO
    assert spec.sink.result_column == "prediction"
    assert spec.sink.save_mode is SaveMode.ERRORIFEXISTS
    assert spec.error_handling.mode is ErrorMode.FAIL_FAST
    assert spec.resources.executor_replica == 3
    assert spec.resources.driver_memory_request == "2Gi"


def test_extensions() -> None:
    spec = parse_spec_text(
        textwrap.dedent(
            """\
            gcsSource:
              format: TFRECORD_GZIP
              uri: gs://b/one
              uris: [gs://b/dir/*, gs://b/prefix*]
              passthrough: [key]
            model: {uri: /m, result: {type: ARRAY, itemType: FLOAT}}
            gcsSink: {format: CSV, uri: /out, save_mode: append}
            errorHandling: {mode: RECORD_AND_CONTINUE, maxErrorRatio: 0.25}
            resources:
              driver_cpu_request: 500m
              executorMemoryRequest: 1Gi
              executor_replica: 5
              maxWorkerCount: 10
            """
        )
    )
    assert spec.source.format is FileFormat.TFRECORD_GZIP
    assert spec.source.uris == ["gs://b/one", "gs://b/dir/*", "gs://b/prefix*"]
    assert spec.source.passthrough == ["key"]
    assert spec.model.result.item_type is ResultType.FLOAT
    assert spec.sink.save_mode is SaveMode.APPEND
    assert spec.error_handling.max_error_ratio == 0.25
    assert spec.resources.driver_cpu_request == "500m"
    assert spec.resources.executor_memory_request == "1Gi"
    assert spec.resources.max_worker_count == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("model:", "modle:"), "modle: unknown field 'modle'. Did you mean 'model'?"),
        (("  features:", "  feature:"), "bigquerySource.feature: unknown field 'feature'."),
        (("save_mode: OVERWRITE", "save_mode: REPLACE"), "bigquerySink.save_mode: 'REPLACE'"),
        (("type: DOUBLE", "type: DUBLE"), "Did you mean 'DOUBLE'?"),
        (("type: PYFUNC_V2", "type: KERAS"), "model.type: 'KERAS' is not one of XGBOOST"),
        (('table: "project.dataset.table_iris"', 'table: ""'), "bigquerySource.table: must not"),
        (("  uri: gs://bucket-name/e2e/artifacts/model\n", ""), "model.uri: required field"),
    ],
)
def test_bad_specs_name_the_field(change: tuple[str, str], message: str) -> None:
    text = MERLIN_README_SAMPLE.replace(*change)
    assert text != MERLIN_README_SAMPLE
    with pytest.raises(UserError) as raised:
        parse_spec_text(text)
    assert message in str(raised.value)


def test_unknown_field_lists_the_allowed_ones() -> None:
    with pytest.raises(UserError, match="Allowed fields: table, features, passthrough, options"):
        parse_spec_text(MERLIN_README_SAMPLE.replace("  features:", "  colums:"))


def test_no_source_or_two_sinks() -> None:
    no_source = "model: {uri: /m}\ngcsSink: {format: JSON, uri: /o}\n"
    with pytest.raises(UserError, match="no source given; add bigquerySource or gcsSource"):
        parse_spec_text(no_source)
    two_sinks = FILES_SPEC + "bigquerySink: {table: p.d.t}\n"
    with pytest.raises(
        UserError, match="exactly one sink is allowed, got bigquerySink and gcsSink"
    ):
        parse_spec_text(two_sinks)
    with pytest.raises(UserError, match="no sink given"):
        parse_spec_text("gcsSource: {format: JSON, uri: /i}\nmodel: {uri: /m}\n")


def test_empty_uri_and_missing_uri() -> None:
    with pytest.raises(UserError, match=r"gcsSource.uri: must not be empty"):
        parse_spec_text(FILES_SPEC.replace("uri: /data/in", "uri: ''"))
    with pytest.raises(UserError, match=r"gcsSource.uri: required field is missing"):
        parse_spec_text(FILES_SPEC.replace("  uri: /data/in\n", ""))


def test_array_needs_item_type_and_sink_formats() -> None:
    with pytest.raises(UserError, match="model.result.itemType: required when"):
        parse_spec_text(FILES_SPEC.replace("uri: /models/m", "{uri: /m, result: {type: ARRAY}}"))
    with pytest.raises(UserError, match="gcsSink.format: TFRECORD cannot be written"):
        parse_spec_text(FILES_SPEC.replace("format: JSON", "format: TFRECORD"))


def test_column_conflicts() -> None:
    with pytest.raises(UserError, match="gcsSource.passthrough: a also listed in features"):
        parse_spec_text(
            FILES_SPEC.replace("features: [a, b]", "features: [a, b]\n  passthrough: [a]")
        )
    with pytest.raises(UserError, match="gcsSink.result_column: 'a' is also an input column"):
        parse_spec_text(FILES_SPEC + "  result_column: a\n".replace("  ", "  "))


def test_bad_yaml_and_wrong_shapes() -> None:
    with pytest.raises(UserError, match="not valid YAML"):
        parse_spec_text("model: [")
    with pytest.raises(UserError, match="spec: expected a mapping"):
        parse_spec_text("- a\n- b\n")
    with pytest.raises(UserError, match="errorHandling.maxErrorRatio: expected a number between"):
        parse_spec_text(FILES_SPEC + "errorHandling: {maxErrorRatio: 2}\n")
    with pytest.raises(UserError, match="resources.executor_replica: must be at least 1"):
        parse_spec_text(FILES_SPEC + "resources: {executor_replica: 0}\n")
    with pytest.raises(UserError, match="maxComputeSource is not supported"):
        parse_spec_text(FILES_SPEC.replace("gcsSource:", "maxcomputeSource:"))
