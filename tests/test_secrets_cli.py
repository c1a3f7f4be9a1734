"""Secrets never leak: a job given secret options, run through the CLI, and every output it
leaves — standard output and error, the log file (DEBUG), the status file, Spark's event log,
the results, the manifest generator — grepped for each secret value."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from spark_job.spec.secrets import MASK
from tests.conftest import REPO_ROOT
from tests.models import ProbeModel, save_pyfunc

PRIVATE_KEY = "SECRET-KEY-MATERIAL-0123456789"
FAKE_ACCOUNT = {"type": "service_account", "client_email": "a@b.iam", "private_key": PRIVATE_KEY}
CREDENTIALS = base64.b64encode(json.dumps(FAKE_ACCOUNT).encode()).decode()
SECRETS = {
    "gcpAccessToken": "SECRET-VALUE-123",
    "credentials": CREDENTIALS,
    "myApiKey": "SECRET-2",
    "writerApiKey": "SECRET-SINK-4",  # Spark's default redaction.regex misses this name
    "apiPassword": "SECRET-MODEL-5",
    "apiToken": "SECRET-PARAM-6",
    "spark.hadoop.fs.gs.auth.client.secret": "SECRET-CONF-7",
    "apiKeyId": "SECRET-BAD-8",
}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spark_job", *args],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})},
    )  # fmt: skip


def _leaks(text: str) -> list[str]:
    values = [*SECRETS.values(), PRIVATE_KEY]
    return [value for value in values if value in text]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("secrets")
    (root / "in").mkdir()
    pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_parquet(root / "in" / "p.parquet")
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "x")]),
        params=ParamSchema(
            [ParamSpec("apiToken", "string", "none"), ParamSpec("apiKeyId", "long", 0)]
        ),
    )
    save_pyfunc(str(root / "model"), python_model=ProbeModel("sum"), signature=signature)
    return {"root": root, "model": root / "model"}


def _spec(job: dict[str, Path], name: str, key_id: str = "7") -> Path:
    root = job["root"]
    spec = root / f"{name}.yaml"
    spec.write_text(f"""
name: {name}
gcsSource:
  format: PARQUET
  uri: {root / "in"}
  features: [x]
  passthrough: [id]
  options: {{gcpAccessToken: {SECRETS["gcpAccessToken"]}, credentials: "{CREDENTIALS}",
             myApiKey: {SECRETS["myApiKey"]}}}
model:
  uri: {job["model"]}
  options: {{apiPassword: {SECRETS["apiPassword"]}}}
  params: {{apiToken: {SECRETS["apiToken"]}, apiKeyId: {key_id}}}
gcsSink:
  format: JSON
  uri: {root / f"out_{name}"}
  options: {{writerApiKey: {SECRETS["writerApiKey"]}}}
""")
    return spec


def test_a_job_with_secrets_leaks_none(job: dict[str, Path]) -> None:
    root = job["root"]
    events = root / "eventlog"
    events.mkdir()
    conf_secret = "spark.hadoop.fs.gs.auth.client.secret"
    submit = (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false"
        f" --conf spark.eventLog.dir=file://{events}"
        f" --conf {conf_secret}={SECRETS[conf_secret]} pyspark-shell"
    )
    status, log_file = root / "status.json", root / "job.log"
    proc = _run(
        "--job-name", "secrets", "--spec-path", str(_spec(job, "secrets")), "--local",
        "--status-path", str(status), "--log-level", "DEBUG", "--log-file", str(log_file),
        env={"PYSPARK_SUBMIT_ARGS": submit},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "instances: 3 succeeded" in proc.stdout
    logs = [p for p in events.rglob("*") if p.is_file()]
    event_log = "".join(p.read_text(errors="replace") for p in logs)
    assert "SparkListenerEnvironmentUpdate" in event_log
    assert f"writerApiKey={MASK}" in event_log  # the writer's options, in the plan: masked
    results = "".join(p.read_text() for p in (root / "out_secrets").iterdir())
    for where, text in [
        ("stdout", proc.stdout), ("stderr", proc.stderr), ("status file", status.read_text()),
        ("log file", log_file.read_text()), ("event log", event_log), ("results", results),
    ]:  # fmt: skip
        assert not _leaks(text), f"{where} holds {_leaks(text)}"


def test_an_error_about_a_secret_value_leaks_none(job: dict[str, Path]) -> None:
    status, log_file = job["root"] / "status_bad.json", job["root"] / "bad.log"
    spec = _spec(job, "bad", key_id=SECRETS["apiKeyId"])
    proc = _run("--job-name", "bad", "--spec-path", str(spec), "--local", "--status-path",
                str(status), "--log-file", str(log_file))  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"error: model.params.apiKeyId: {MASK} is not a long" in proc.stderr
    for where, text in [
        ("stdout", proc.stdout), ("stderr", proc.stderr), ("status file", status.read_text()),
        ("log file", log_file.read_text() if log_file.exists() else ""),
    ]:  # fmt: skip
        assert not _leaks(text), f"{where} holds {_leaks(text)}"


def test_the_manifest_of_a_spec_with_secrets_leaks_none(job: dict[str, Path]) -> None:
    output = job["root"] / "application.yaml"
    spec = _spec(job, "manifest")
    proc = _run("manifest", "--spec-path", str(spec), "--image", "img:1", "--output", str(output))
    assert proc.returncode == 2, proc.stderr
    assert "gcsSource.options.gcpAccessToken: the spec holds a secret" in proc.stderr
    assert not output.exists()
    assert not _leaks(proc.stdout + proc.stderr)
