"""The command line through a subprocess: exit codes, messages, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.models import save_probe_model


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spark_job", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def job_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    (root / "input").mkdir()
    pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_parquet(root / "input" / "p.parquet")
    return {
        "root": root,
        "model": save_probe_model(root / "model", "sum"),
        "broken": save_probe_model(root / "broken", "no-such-behaviour"),
    }


def write_spec(root: Path, name: str, model: Path, output: Path, extra: str = "") -> Path:
    spec = root / f"{name}.yaml"
    spec.write_text(
        f"""
kind: PredictionJob
name: {name}
gcsSource:
  format: PARQUET
  uri: {root / "input"}
  features: [x]
  passthrough: [id]
model:
  type: PYFUNC_V2
  uri: {model}
gcsSink:
  format: PARQUET
  uri: {output}
{extra}"""
    )
    return spec


def test_bad_spec_exits_2_before_spark_starts(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("gcsSource: {format: PARQET, uri: /in}\nmodel: {uri: /m}\n")
    proc = run_cli("--job-name", "bad", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "gcsSource.format: 'PARQET' is not one of CSV, PARQUET")
    assert "Did you mean 'PARQUET'?" in proc.stderr
    assert "SparkContext" not in proc.stderr


def test_bad_options_exit_2_before_spark_starts(tmp_path: Path) -> None:
    """Options the job reads itself are checked before the SparkSession: one rule for booleans,
    the field named, no Spark started."""
    spec = tmp_path / "options.yaml"
    spec.write_text(
        "bigquerySource: {table: p.d.t}\nmodel: {uri: /m}\n"
        "bigquerySink: {table: p.d.out, staging_bucket: b, options: {allowFieldAddition: maybe}}\n"
    )
    proc = run_cli("--job-name", "options", "--spec-path", str(spec), "--local")
    assert_user_error(
        proc, "bigquerySink.options.allowFieldAddition: expected true or false, got 'maybe'."
    )
    assert "SparkContext" not in proc.stderr and "log4j" not in proc.stderr
    spec.write_text(
        "gcsSource: {format: CSV, uri: /in, options: {header: yes please}}\nmodel: {uri: /m}\n"
        "gcsSink: {format: JSON, uri: /out}\n"
    )
    proc = run_cli("--job-name", "options", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "gcsSource.options.header: expected true or false, got 'yes please'.")
    assert "log4j" not in proc.stderr


def test_missing_spec_file_and_arguments(tmp_path: Path) -> None:
    assert_user_error(
        run_cli("--job-name", "x", "--spec-path", str(tmp_path / "nope.yaml")),
        "--spec-path: cannot read",
    )
    assert_user_error(run_cli("--spec-path", "x.yaml"), "--job-name and --spec-path are required")


def test_dry_run_model(job_files: dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("--dry-run-model", str(job_files["model"]))
    assert proc.returncode == 0, proc.stderr
    assert "model loaded" in proc.stdout
    assert_user_error(run_cli("--dry-run-model", str(tmp_path / "none")), "model.uri: no model at")


def test_run_then_error_if_exists_then_ignore(job_files: dict[str, Path]) -> None:
    root = job_files["root"]
    output = root / "out"
    spec = write_spec(root, "first", job_files["model"], output)
    proc = run_cli("--job-name", "first", "--spec-path", str(spec), "--local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "instances: 3 succeeded, 0 failed; rows written: 3" in proc.stdout
    assert sorted(pd.read_parquet(output)["prediction"]) == [0.5, 1.5, 2.5]

    proc = run_cli("--job-name", "second", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "gcsSink.uri: output")
    assert "save_mode is ERRORIFEXISTS" in proc.stderr

    ignore = write_spec(root, "third", job_files["model"], output, "  save_mode: IGNORE\n")
    proc = run_cli("--job-name", "third", "--spec-path", str(ignore), "--local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped" in proc.stdout and "IGNORE" in proc.stdout


def test_missing_column_is_a_user_error(job_files: dict[str, Path]) -> None:
    root = job_files["root"]
    spec = write_spec(root, "missing", job_files["model"], root / "out_missing")
    spec.write_text(spec.read_text().replace("features: [x]", "features: [x, y]"))
    proc = run_cli("--job-name", "missing", "--spec-path", str(spec), "--local")
    assert_user_error(proc, "gcsSource.features: column 'y' does not exist in the input.")
    assert "Columns: id, x." in proc.stderr
    assert not (root / "out_missing").exists()


def test_a_model_raising_is_a_user_error(job_files: dict[str, Path]) -> None:
    """The model is the user's: exit 2, naming the instance it raised on."""
    root = job_files["root"]
    spec = write_spec(root, "broken", job_files["broken"], root / "out_broken")
    proc = run_cli("--job-name", "broken", "--spec-path", str(spec), "--local")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "the model failed on " in proc.stderr
    assert "unknown behaviour no-such-behaviour" in proc.stderr
    assert not (root / "out_broken").exists()
