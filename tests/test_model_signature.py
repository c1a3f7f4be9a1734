"""Model-aware jobs: the input checked against the model's MLflow signature before any task
scores (every mismatch in one message, exit 2, nothing written), the job's conversions,
features from the signature, ``model.params``, ``--dry-run-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud.bigquery import SchemaField
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from tests.bq_helpers import create_dataset, create_table, run_sql
from tests.conftest import EMULATOR_PROJECT
from tests.models import ProbeModel, save_pyfunc
from tests.test_cli import assert_user_error, run_cli

BQ_TABLE = f"{EMULATOR_PROJECT}.signature_tests.days"


def save_model(
    path: Path,
    behaviour: str,
    inputs: list[ColSpec],
    outputs: list[ColSpec] | None = None,
    params: list[ParamSpec] | None = None,
    value: Any = None,
) -> Path:
    signature = ModelSignature(
        inputs=Schema(inputs),
        outputs=Schema(outputs) if outputs else None,
        params=ParamSchema(params) if params else None,
    )
    model = ProbeModel(behaviour, value)
    save_pyfunc(str(path), python_model=model, signature=signature)
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parquet input (id, a bigint, b double, c string, n bigint with a NULL, extra string) and
    models with signatures over it."""
    root = tmp_path_factory.mktemp("signature")
    (root / "input").mkdir()
    pd.DataFrame({
        "id": [1, 2], "a": [1, 2], "b": [1.5, 2.5], "c": ["1", "2"],
        "n": pd.array([1, None], dtype="Int64"), "extra": ["x", "y"],
    }).to_parquet(root / "input" / "p.parquet")  # fmt: skip
    wrong = [ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("long", "c"),
             ColSpec("long", "n"), ColSpec("long", "gone")]  # fmt: skip
    save_model(root / "wrong", "sum", wrong, [ColSpec("double")])
    right = [ColSpec("long", "a"), ColSpec("double", "b"), ColSpec("string", "c")]
    params = [ParamSpec("k", "long", 3), ParamSpec("label", "string", "none")]
    save_model(root / "right", "sum", right, [ColSpec("double")], params)
    return root


def write_spec(root: Path, name: str, model: str, extra: str = "") -> Path:
    spec = root / f"{name}.yaml"
    spec.write_text(
        f"""
gcsSource: {{format: PARQUET, uri: {root / "input"}, passthrough: [id]}}
model: {{uri: {root / model}{extra}}}
gcsSink: {{format: PARQUET, uri: {root / ("out_" + name)}}}
"""
    )
    return spec


@pytest.mark.spark35
def test_every_mismatch_in_one_message_nothing_written(root: Path, cli_in_process: Any) -> None:
    spec = write_spec(root, "m", "wrong")
    proc = cli_in_process("--job-name", "mismatch", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "gcsSource: 5 column(s) do not fit the model's signature")
    for line in (
        "column 'a': bigint in the input, double in the signature: MLflow refuses int64 for a"
        " double input (values could change); model.options.castInputs: true casts it",
        "column 'b': double in the input, long in the signature",
        "column 'c': string in the input, long in the signature",
        "column 'n': bigint with NULLs in the input, long in the signature",
        "column 'gone': missing in the input, long in the signature",
    ):
        assert line in proc.stderr
    assert "Failed to enforce schema" not in proc.stderr  # no task scored: MLflow never ran
    assert not (root / "out_m").exists()


def test_dry_run_model_prints_the_signature(root: Path) -> None:
    proc = run_cli("--dry-run-model", str(root / "right"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for expected in (
        "signature inputs:", "  a: long (required)", "  c: string (required)", "params:",
        "  k: long = 3 (default)", "  label: string = 'none' (default)", "signature outputs:",
        "  #1: double (required)", "features: a, b, c (from the signature)",
    ):  # fmt: skip
        assert expected in lines, proc.stdout
    assert any(line.startswith("result: DOUBLE") for line in lines)
    assert "SparkContext" not in proc.stderr


def test_dry_run_model_with_a_spec_runs_the_preflight(root: Path, cli_in_process: Any) -> None:
    spec = write_spec(root, "dry", "right", ", params: {k: 7}")
    proc = cli_in_process(
        "--dry-run-model", str(root / "right"), "--spec-path", str(spec), "--local"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "  k: long = 7 (model.params)" in proc.stdout
    assert proc.stdout.rstrip().endswith("preflight: ok")
    spec = write_spec(root, "dry", "right")  # the model of --dry-run-model replaces its uri
    proc = cli_in_process(
        "--dry-run-model", str(root / "wrong"), "--spec-path", str(spec), "--local"
    )
    assert_user_error(proc, "gcsSource: 5 column(s) do not fit the model's signature")
    assert not (root / "out_dry").exists()


def test_params_are_checked_before_spark_starts(root: Path) -> None:
    spec = write_spec(root, "p1", "right", ", params: {kk: 7}")
    proc = run_cli("--job-name", "p", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "model.params.kk: not a param of the model's signature. Did you mean")
    assert "SparkContext" not in proc.stderr
    spec = write_spec(root, "p2", "right", ", params: {k: '7'}")
    proc = run_cli("--job-name", "p", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "model.params.k: '7' is not a long")


# ----------------------------------------------------------------------------- in process
def _run(spark: Any, text: str) -> Any:
    return run_job(spark, parse_spec_text(text), "signature", "run1")


def test_features_from_the_signature_and_widening_casts(spark: Any, tmp_path: Path) -> None:
    pd.DataFrame({
        "id": [1, 2], "i": pd.Series([1, 2], dtype="int32"),
        "f": pd.Series([0.5, 1.5], dtype="float32"), "extra": ["x", "y"],
    }).to_parquet(tmp_path / "in.parquet")  # fmt: skip
    model = save_model(tmp_path / "m", "dtypes", [ColSpec("long", "i"), ColSpec("double", "f")])
    _run(spark, f"""
gcsSource: {{format: PARQUET, uri: {tmp_path / "in.parquet"}, passthrough: [id]}}
model: {{uri: {model}, result: {{type: STRING}}}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
""")  # fmt: skip
    got = pd.read_parquet(tmp_path / "out").sort_values("id")
    assert list(got.columns) == ["id", "i", "f", "prediction"]  # not 'extra'
    assert got["prediction"].tolist() == ["i:int64,f:float64"] * 2
    assert (str(got["i"].dtype), str(got["f"].dtype)) == ("int64", "float64")


def test_json_date_strings_reach_a_dt_model_as_datetimes(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(
        '{"id": 1, "day": "2024-03-05"}\n{"id": 2, "day": "1999-12-31T23:00:00"}\n'
    )
    model = save_model(tmp_path / "m", "year", [ColSpec("datetime", "day")])
    _run(spark, f"""
gcsSource: {{format: JSON, uri: {tmp_path / "in.json"}, passthrough: [id]}}
model: {{uri: {model}, result: {{type: INTEGER}}}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
""")  # fmt: skip
    got = pd.read_parquet(tmp_path / "out").sort_values("id")
    assert got["prediction"].tolist() == [2024, 1999]
    assert str(got["day"].dtype).startswith("datetime64")  # cast by the job, as the model saw it


def test_bigquery_date_reaches_a_dt_model_as_datetime(spark: Any, tmp_path: Path) -> None:
    create_dataset("signature_tests")
    create_table(BQ_TABLE, [SchemaField("id", "INT64"), SchemaField("day", "DATE"),
                            SchemaField("note", "STRING")])  # fmt: skip
    run_sql(f"INSERT INTO `{BQ_TABLE}` (id, day, note) VALUES"
            " (1, DATE '2021-06-01', 'a'), (2, DATE '1998-01-31', 'b')")  # fmt: skip
    model = save_model(tmp_path / "m", "year", [ColSpec("datetime", "day")])
    _run(spark, f"""
bigquerySource: {{table: {BQ_TABLE}, passthrough: [id], options: {{engine: storage-api}}}}
model: {{uri: {model}, result: {{type: INTEGER}}}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
""")  # fmt: skip
    got = pd.read_parquet(tmp_path / "out").sort_values("id")
    assert list(got.columns) == ["id", "day", "prediction"]  # features from the signature
    assert got["prediction"].tolist() == [2021, 1998]


def test_cast_inputs_casts_what_mlflow_refuses(spark: Any, tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "a": [3, 4]}).to_parquet(tmp_path / "in.parquet")
    model = save_model(tmp_path / "m", "sum", [ColSpec("double", "a")])
    text = f"""
gcsSource: {{format: PARQUET, uri: {tmp_path / "in.parquet"}, passthrough: [id]}}
model: {{uri: {model}, result: {{type: DOUBLE}}OPTIONS}}
gcsSink: {{format: PARQUET, uri: {tmp_path / "out"}}}
"""
    with pytest.raises(UserError, match="castInputs: true casts it"):
        _run(spark, text.replace("OPTIONS", ""))
    assert not (tmp_path / "out").exists()
    _run(spark, text.replace("OPTIONS", ", options: {castInputs: true}"))
    got = pd.read_parquet(tmp_path / "out").sort_values("id")
    assert got["prediction"].tolist() == [3.0, 4.0]


def test_params_reach_predict_with_the_schemas_defaults(spark: Any, tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}).to_parquet(tmp_path / "in.parquet")
    params = [ParamSpec("k", "long", 3), ParamSpec("label", "string", "none")]
    model = save_model(tmp_path / "m", "param", [ColSpec("double", "x")], params=params, value="k")
    for given, expected in (("", 3), (", params: {k: 7}", 7)):
        out = tmp_path / f"out{expected}"
        _run(spark, f"""
gcsSource: {{format: PARQUET, uri: {tmp_path / "in.parquet"}, passthrough: [id]}}
model: {{uri: {model}, result: {{type: LONG}}{given}}}
gcsSink: {{format: PARQUET, uri: {out}}}
""")  # fmt: skip
        assert pd.read_parquet(out)["prediction"].tolist() == [expected] * 2
