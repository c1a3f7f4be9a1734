"""The bad-input table of ``tests/test_bad_inputs.py``: one row per kind of mistake a user can
make — in the spec, the data, the model, the options, the command line or the environment —
with the exit code and the message the job must answer with.

A row is data only: the spec (a :class:`string.Template`), the files the case's input holds,
the model it names (``tests/bad_input_data.py``), extra flags and environment; :func:`prepare`
writes what a row names into a directory of its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import pandas as pd

from tests.bad_input_data import (
    Workspace,
    closed_port,
    corrupt_avro,
    good_parquet,
    nested_parquet,
    parquet_bytes,
    truncated_gzip,
)

SPEC = "spec"
DATA = "data"
MODEL = "model"
OPTIONS = "options"
CLI = "cli"
ENVIRONMENT = "environment"
KINDS = (SPEC, DATA, MODEL, OPTIONS, CLI, ENVIRONMENT)

#: A spec over the case's input directory (JSON lines) into the case's sink directory.
JSON_JOB = """\
gcsSource: {format: JSON, uri: $input, features: [x], passthrough: [id]}
model: {uri: $model}
gcsSink: {format: JSON, uri: $output}
"""
PARQUET_JOB = JSON_JOB.replace("JSON, uri: $input", "PARQUET, uri: $input")
CSV_JOB = JSON_JOB.replace("JSON, uri: $input", "CSV, uri: $input")
#: The Merlin README's BigQuery job, on the emulator's project.
BIGQUERY_JOB = """\
kind: PredictionJob
bigquerySource: {table: "$project.bad_inputs.flowers", features: [x], passthrough: [id]}
model: {type: PYFUNC_V2, uri: $model, result: {type: DOUBLE}}
bigquerySink: {table: "$project.bad_inputs.$table", save_mode: OVERWRITE, staging_bucket: $bucket}
"""

GOOD_LINES = "".join(json.dumps({"id": i, "x": float(i)}) + "\n" for i in range(1, 5))


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One kind of bad input.

    ``spec`` is a template over ``$input`` (the case's input directory), ``$output`` (the
    sink's location, which must stay absent), ``$model``, ``$case`` (the case's directory),
    ``$project``, ``$table``, ``$bucket``; None: no ``--spec-path`` (``argv`` says it all).
    ``files`` are written into ``$input`` (bytes, text, or a function making bytes).
    ``argv`` are extra flags (templates too; ``$spec`` is the spec's path). ``env``: variables
    set (a value) or removed (None) for the run; ``$closed`` is a port nothing listens on.
    ``spark``: the mistake is found once Spark runs (else before the SparkSession starts).
    ``own_process``: run in a process of its own (google-auth, and the retry deadline
    ``SPARK_JOB_RETRY_SECONDS``, are read from the environment when imported).
    ``message``: a regex the error line (``error: …``) must match; it names the field,
    column, file or line at fault.
    """

    id: str
    kind: str
    message: str
    spec: str | None = JSON_JOB
    files: dict[str, bytes | str | Callable[[], bytes]] = field(default_factory=dict)
    model: str = "sum"
    argv: tuple[str, ...] = ()
    env: dict[str, str | None] = field(default_factory=dict)
    spark: bool = False
    exit_code: int = 2
    bigquery: bool = False
    job_name: str = "bad_input"
    own_process: bool = False
    encoding: str = "utf-8"  # the spec file's


GOOD = {"in.json": GOOD_LINES}


def model_with(fields: str) -> str:
    """The JSON job with more ``model`` fields."""
    return JSON_JOB.replace("{uri: $model}", "{uri: $model, " + fields + "}")


def source_with(fields: str) -> str:
    """The JSON job with more ``gcsSource`` fields."""
    return JSON_JOB.replace("passthrough: [id]}", "passthrough: [id], " + fields + "}")


def sink_with(fields: str) -> str:
    """The JSON job with more ``gcsSink`` fields."""
    return JSON_JOB.replace("uri: $output}", "uri: $output, " + fields + "}")


NO_GOOGLE = {  # no emulator, no credentials anywhere, not on Google's cloud (no metadata server)
    "BIGQUERY_EMULATOR_HOST": None, "BIGQUERY_STORAGE_EMULATOR_HOST": None,
    "STORAGE_EMULATOR_HOST": None, "GOOGLE_APPLICATION_CREDENTIALS": None,
    "GOOGLE_CLOUD_PROJECT": None, "CLOUDSDK_CONFIG": "$case/gcloud", "NO_GCE_CHECK": "true",
}  # fmt: skip

# fmt: off
CASES: list[Case] = [
    # ------------------------------------------------------------------ spec
    Case("yaml_syntax", SPEC, r"job\.yaml: not valid YAML: line 2, column 1: while parsing a "
         r"flow mapping, expected ',' or '}'", spec="model: {uri: x\n"),
    Case("not_a_mapping", SPEC, r"^spec: expected a mapping, got list", spec="- a\n- b\n"),
    Case("empty_spec", SPEC, r"job\.yaml: the spec is empty", spec=""),
    Case("unknown_field", SPEC, r"^modle: unknown field 'modle'\. Did you mean 'model'\?",
         spec=JSON_JOB.replace("model:", "modle:")),
    Case("bad_enum", SPEC, r"^gcsSink\.save_mode: 'REPLACE' is not one of ERRORIFEXISTS",
         spec=sink_with("save_mode: REPLACE")),
    Case("missing_required", SPEC, r"^model\.uri: required field is missing",
         spec=JSON_JOB.replace("{uri: $model}", "{type: PYFUNC}")),
    Case("no_source", SPEC, r"^spec: no source given; add bigquerySource or gcsSource",
         spec="model: {uri: $model}\ngcsSink: {format: JSON, uri: $output}\n"),
    Case("two_sinks", SPEC, r"^spec: exactly one sink is allowed, got bigquerySink and gcsSink",
         spec=JSON_JOB + "bigquerySink: {table: p.d.t}\n"),
    Case("wrong_kind", SPEC, r"^kind: 'Deployment' is not supported; use PredictionJob",
         spec="kind: Deployment\n" + JSON_JOB),
    Case("wrong_value_type", SPEC, r"^gcsSource\.features: expected a list of strings, got dict",
         spec=JSON_JOB.replace("features: [x]", "features: {x: 1}")),
    Case("field_given_twice", SPEC, r"^gcsSink\.resultColumn: given twice \(also as 'result_col",
         spec=sink_with("result_column: a, resultColumn: b")),
    Case("feature_listed_twice", SPEC, r"^gcsSource\.features: column listed more than once: x",
         spec=JSON_JOB.replace("features: [x]", "features: [x, x]")),
    Case("feature_also_passthrough", SPEC, r"^gcsSource\.passthrough: x also listed in features",
         spec=JSON_JOB.replace("passthrough: [id]", "passthrough: [id, x]")),
    Case("result_column_is_input", SPEC, r"^gcsSink\.result_column: 'id' is also an input column",
         spec=sink_with("result_column: id")),
    Case("array_without_item_type", SPEC, r"^model\.result\.itemType: required when",
         spec=model_with("result: {type: ARRAY}")),
    Case("unwritable_format", SPEC, r"^gcsSink\.format: TFRECORD cannot be written",
         spec=JSON_JOB.replace("format: JSON, uri: $output", "format: TFRECORD, uri: $output")),
    Case("maxcompute", SPEC, r"^maxcomputeSource: maxComputeSource is not supported",
         spec=JSON_JOB.replace("gcsSource:", "maxcomputeSource:")),
    Case("ratio_out_of_range", SPEC, r"^errorHandling\.maxErrorRatio: expected a number between",
         spec=JSON_JOB + "errorHandling: {mode: RECORD_AND_CONTINUE, maxErrorRatio: 1.5}\n"),
    Case("memory_quantity", SPEC, r"^resources\.driver_memory_request: '2 gigs' is not a memory",
         spec=JSON_JOB + "resources: {driver_memory_request: 2 gigs}\n"),
    Case("cpu_quantity", SPEC, r"^resources\.executorCpuRequest: CPU must be more than 0, got '0m'",
         spec=JSON_JOB + "resources: {executorCpuRequest: 0m}\n"),
    Case("replicas_below_one", SPEC, r"^resources\.executor_replica: must be at least 1, got 0",
         spec=JSON_JOB + "resources: {executor_replica: 0}\n"),
    Case("bad_table_id", SPEC, r"^bigquerySource\.table: .*a\.b\.c\.d", bigquery=True,
         spec=BIGQUERY_JOB.replace('"$project.bad_inputs.flowers"', "a.b.c.d")),
    Case("job_name", SPEC, r"^--job-name: 'nightly-iris' contains '-'", spec=BIGQUERY_JOB,
         job_name="nightly-iris"),
    Case("spec_not_utf8", SPEC, r"^--spec-path: .*job\.yaml is not UTF-8 text \(line 2: ",
         spec="# Merlin's sample\nmodel: {uri: caf\xe9}\n", encoding="latin-1"),
    # ------------------------------------------------------------------ options
    Case("option_not_a_number", OPTIONS, r"^gcsSource\.options\.samplingRows: expected a "
         r"positive integer, got 'lots'",
         spec=source_with("options: {samplingRows: lots}")),
    Case("option_not_a_flag", OPTIONS, r"^model\.options\.castInputs: expected true or false",
         spec=model_with("options: {castInputs: sometimes}")),
    Case("option_for_another_reader", OPTIONS, r"^gcsSource\.options\.mode: not an option of "
         r"the JSON reader",
         spec=source_with("options: {mode: DROPMALFORMED}")),
    Case("unknown_param", OPTIONS, r"^model\.params\.treshold: not a param.*'threshold'",
         model="signed", spec=model_with("params: {treshold: 0.2}")),
    Case("param_wrong_type", OPTIONS, r"^model\.params\.threshold: 'high' is not a double",
         model="signed", spec=model_with("params: {threshold: high}")),
    Case("bad_schema_option", OPTIONS, r"^gcsSource\.options\.schema: not a valid schema "
         r"\(\[UNSUPPORTED_DATATYPE\] Unsupported data type \"DUBBLE\"",
         files=GOOD, spark=True, spec=source_with("options: {schema: 'id bigint, x dubble'}")),
    # ------------------------------------------------------------------ command line
    Case("no_job_name", CLI, r"^--job-name and --spec-path are required", job_name=""),
    Case("spec_missing", CLI, r"^--spec-path: cannot read .*nowhere\.yaml: No such file",
         spec=None, argv=("--spec-path", "$case/nowhere.yaml")),
    Case("log_file_unwritable", CLI, r"^--log-file: cannot write /proc/.*",
         argv=("--log-file", "/proc/spark_job/job.log")),
    Case("bad_flag_value", CLI, r"^argument --progress-interval: invalid float value: 'soon'",
         argv=("--progress-interval", "soon")),
    # ------------------------------------------------------------------ models
    Case("model_missing", MODEL, r"^model\.uri: no model at '.*nothing-here' \(the path",
         spec=JSON_JOB.replace("$model", "$case/nothing-here")),
    Case("model_not_mlflow", MODEL, r"^model\.uri: '.*' is not an MLflow model directory",
         model="no_mlmodel"),
    Case("model_bad_mlmodel", MODEL, r"^model\.uri: cannot read the MLmodel of .*: line 2, "
         r"column 10: while parsing a flow sequence", model="bad_mlmodel"),
    Case("model_unpicklable", MODEL, r"^model\.uri: the model cannot be loaded: UnpicklingError",
         model="corrupt_pickle", files=GOOD, spark=True),
    Case("model_load_raises_slowly", MODEL, r"^model\.uri: the model cannot be loaded: "
         r"RuntimeError: cannot open weights\.bin", model="load_fails", files=GOOD, spark=True),
    Case("model_raises", MODEL, r"^gcsSource: the model failed on .*in\.json line 3: "
         r"ValueError: negative feature value", model="raise", spark=True,
         files={"in.json": GOOD_LINES.replace('"x": 3.0', '"x": -3.0')}),
    Case("model_short_output", MODEL, r"^model: the model returned 1 predictions for 2 rows",
         model="short", files=GOOD, spark=True),
    Case("model_wrong_type", MODEL, r"^model\.result\.type: the model's output .*'high'.* LONG",
         model="text", files=GOOD, spark=True, spec=model_with("result: {type: LONG}")),
    Case("model_scalar_for_array", MODEL, r"^model\.result\.type: ARRAY was declared",
         model="scalar", files=GOOD, spark=True,
         spec=model_with("result: {type: ARRAY, itemType: DOUBLE}")),
    Case("model_struct_field_missing", MODEL, r"^model\.result\.fields: .*no column score",
         model="frame", files=GOOD, spark=True,
         spec=model_with("result: {fields: [{name: score, type: DOUBLE}]}")),
    Case("model_slow_wrong_type", MODEL, r"^model\.result\.type: the model's output .* INTEGER",
         model="slow_text", files=GOOD, spark=True, spec=model_with("result: {type: INTEGER}")),
    # ------------------------------------------------------------------ data
    Case("input_missing", DATA, r"^gcsSource\.uri: no file matches '.*in-nowhere'",
         spark=True, spec=JSON_JOB.replace("$input", "$case/in-nowhere")),
    Case("input_dir_empty", DATA, r"^gcsSource\.uri: no file matches", spark=True,
         files={".keep": ""}),
    Case("unsupported_scheme", DATA, r"^gcsSource\.uri: 's3://bucket/in': s3:// is not supp",
         spark=True, spec=JSON_JOB.replace("$input", "s3://bucket/in")),
    Case("missing_feature_column", DATA, r"^gcsSource\.features: column 'y' does not exist",
         spark=True, files={"p.parquet": good_parquet}, spec=PARQUET_JOB.replace("[x]", "[y]")),
    Case("corrupt_parquet", DATA, r"^gcsSource: .*/bad\.parquet cannot be read: ", spark=True,
         files={"bad.parquet": b"PAR1 this is not parquet PAR1"}, spec=PARQUET_JOB),
    Case("truncated_parquet", DATA, r"^gcsSource: .*/cut\.parquet cannot be read: ", spark=True,
         files={"cut.parquet": lambda: good_parquet()[:-30]}, spec=PARQUET_JOB),
    Case("mixed_parquet_schemas", DATA, r"^gcsSource: .*/[ab]\.parquet cannot be read",
         spark=True, spec=PARQUET_JOB,
         files={"a.parquet": good_parquet,
                "b.parquet": lambda: parquet_bytes(pd.DataFrame({"id": [4], "x": ["four"]}))}),
    Case("mixed_json_types", DATA,
         r"^gcsSource: .*b\.json line 1 does not fit the input's columns: column 'x'",
         spark=True, files={"a.json": GOOD_LINES, "b.json": '{"id": 9, "x": "nine"}\n'}),
    Case("invalid_json_line", DATA, r"^gcsSource: .*in\.json line 2 cannot be read: not valid",
         spark=True, files={"in.json": '{"id": 1, "x": 1.0}\n{"id": 2, "x": \n'}),
    Case("not_utf8_line", DATA, r"^gcsSource: .*in\.json line 2 cannot be read: not UTF-8",
         spark=True, files={"in.json": b'{"id": 1, "x": 1.0}\n{"id": 2, "k": "\xff"}\n'}),
    Case("scalar_instance", DATA, r"^gcsSource: .*in\.json line 2 .*must be a JSON object",
         spark=True, files={"in.json": '{"id": 1, "x": 1.0}\n42\n{"id": 3, "x": 3.0}\n'}),
    Case("nested_value", DATA, r"^gcsSource: .*in\.json line 5 .*column 'x': expected a number",
         spark=True, files={"in.json": GOOD_LINES + '{"id": 5, "x": {"value": 5.0}}\n'}),
    Case("nested_column", DATA, r"^gcsSource: 1 column\(s\) do not fit the model's signature"
         r".*\n  - column 'x': struct", model="signed", spark=True,
         files={"n.parquet": nested_parquet}, spec=PARQUET_JOB),
    Case("csv_wrong_field_count", DATA, r"^gcsSource: .*in\.csv line 3 .*has 3 fields but",
         spark=True, files={"in.csv": "id,x\n1,1.0\n2,2.0,extra\n"}, spec=CSV_JOB),
    Case("csv_wrong_type", DATA, r"^gcsSource: .*in\.csv line 4 .*column 'x': expected a number",
         spark=True, files={"in.csv": "id,x\n1,1.0\n2,2.0\n3,abc\n4,4.0\n"}, spec=CSV_JOB),
    Case("csv_huge_field", DATA, r"^gcsSource: .*in\.csv line 3 cannot be read: .*field larger",
         spark=True, files={"in.csv": "id,x\n1,1.0\n2," + "9" * 300_000 + "\n"}, spec=CSV_JOB),
    Case("json_huge_line", DATA, r"^gcsSource: .*in\.json line 5 cannot be read: not valid JSON",
         spark=True, files={"in.json": GOOD_LINES + '{"id": 5, "x": [' + "1.0, " * 2**21 + "\n"}),
    Case("truncated_gzip", DATA, r"^gcsSource: .*cut\.json\.gz line \d+ cannot be read: cannot "
         r"decompress", spark=True, files={"cut.json.gz": truncated_gzip}),
    Case("corrupt_avro", DATA, r"^gcsSource: .*bad\.avro line \d+ cannot be read: corrupt Avro",
         spark=True, files={"bad.avro": corrupt_avro},
         spec=JSON_JOB.replace("JSON, uri: $input", "AVRO, uri: $input")),
    Case("bigquery_table_missing", DATA,
         r"^bigquerySource\.table: table or view .*bad_inputs\.no_such_table not found",
         spark=True, bigquery=True,
         spec=BIGQUERY_JOB.replace("bad_inputs.flowers", "bad_inputs.no_such_table")),
    Case("bigquery_column_missing", DATA,
         r"^bigquerySource\.features: column 'petal' does not exist in .*flowers",
         spark=True, bigquery=True, spec=BIGQUERY_JOB.replace("[x]", "[petal]")),
    Case("gcs_bucket_missing", DATA, r"^gcsSource\.uri: 'gs://no-such-[-0-9a-z]+/in/\*': "
         r"bucket 'no-such-[-0-9a-z]+' does not exist", spark=True, bigquery=True,
         spec=JSON_JOB.replace("$input", "gs://no-such-$bucket/in/*")),
    # ------------------------------------------------------------------ environment
    Case("bigquery_down", ENVIRONMENT, r"^job failed: BigQuery at http://127\.0\.0\.1:\d+ "
         r"cannot be reached: Connection refused", spark=True, bigquery=True, exit_code=1,
         env={"BIGQUERY_EMULATOR_HOST": "127.0.0.1:$closed",
              "BIGQUERY_STORAGE_EMULATOR_HOST": "127.0.0.1:$closed",
              "SPARK_JOB_RETRY_SECONDS": "3"},  # read once, at import: own process
         own_process=True, spec=BIGQUERY_JOB),
    Case("no_credentials", ENVIRONMENT, r"^BigQuery: no Google credentials found \(.*\)\. Set "
         r"GOOGLE_APPLICATION_CREDENTIALS", bigquery=True, env=NO_GOOGLE, own_process=True,
         spec=BIGQUERY_JOB),
]
# fmt: on


# --------------------------------------------------------------------------- building a case


@dataclass(frozen=True)
class Prepared:
    """A case made concrete: the command line, the environment and where nothing may appear."""

    argv: list[str]
    env: dict[str, str | None]
    sink_dir: Path
    log_file: Path


def prepare(case: Case, workspace: Workspace, values: dict[str, str]) -> Prepared:
    """Write the case's files and spec under ``workspace``; ``values`` fill the templates
    (``project``, ``bucket``, ``table``...)."""
    directory = workspace.root / case.id
    if directory.exists():
        shutil.rmtree(directory)
    inputs = directory / "in"
    inputs.mkdir(parents=True)
    for name, content in case.files.items():
        data = content() if callable(content) else content
        target = inputs / name
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data)
    sink_dir = directory / "sink"
    model = workspace.model(case.model) if case.spec and "$model" in case.spec else Path("-")
    mapping = {
        "input": str(inputs), "output": str(sink_dir / "out"), "model": str(model),
        "case": str(directory), "closed": str(closed_port()), "table": f"{case.id}_out",
        **values,
    }  # fmt: skip
    argv = [part for part in ("--job-name", case.job_name) if case.job_name]
    if case.spec is not None:
        spec_path = directory / "job.yaml"
        text = Template(case.spec).substitute(mapping)
        spec_path.write_bytes(text.encode(case.encoding))
        argv += ["--spec-path", str(spec_path)]
        mapping["spec"] = str(spec_path)
    log_file = directory / "job.log"
    extra = [Template(a).substitute(mapping) for a in case.argv]
    if "--log-file" not in extra:
        argv += ["--log-file", str(log_file)]
    env = {k: None if v is None else Template(v).substitute(mapping) for k, v in case.env.items()}
    return Prepared([*argv, *extra, "--local"], env, sink_dir, log_file)
