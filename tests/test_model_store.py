"""``model.uri`` from a local path, gs:// (fake-gcs-server) and a local MLflow registry
(sqlite tracking store): downloaded once on the driver, missing models are user errors."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.scoring.model import load_pyfunc
from spark_job.scoring.model_store import resolve_model
from spark_job.spec import parse_spec_text
from tests import gcs_helpers as g
from tests.models import TEST_MODEL_REQUIREMENTS, ProbeModel, save_probe_model

# --------------------------------------------------------------------------- gs://


@pytest.fixture(scope="module")
def model_bucket(emulators, tmp_path_factory: pytest.TempPathFactory) -> str:  # type: ignore[no-untyped-def]
    bucket = g.new_bucket("models")
    model = save_probe_model(tmp_path_factory.mktemp("m") / "model", "sum")
    g.upload_dir(model, bucket, "iris/v1")
    g.put(bucket, "not-a-model/readme.txt", "hello")
    return bucket


def test_model_from_gcs_is_downloaded_to_a_local_dir(model_bucket: str) -> None:
    local = resolve_model(f"gs://{model_bucket}/iris/v1")
    assert (local / "MLmodel").is_file()
    assert (local / "python_model.pkl").is_file()
    assert load_pyfunc(local).predict(
        __import__("pandas").DataFrame({"a": [1.0, 2.0]})
    ).tolist() == [
        1.0,
        2.0,
    ]
    assert resolve_model(f"gs://{model_bucket}/iris/v1/") != local  # each resolve downloads anew


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("iris/v2", "model.uri: no model at 'gs://{b}/iris/v2' (no object under it)."),
        ("not-a-model", "model.uri: 'gs://{b}/not-a-model' is not an MLflow model directory"),
    ],
)
def test_missing_gcs_model_names_the_uri(model_bucket: str, path: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        resolve_model(f"gs://{model_bucket}/{path}")
    assert str(raised.value).startswith(message.format(b=model_bucket))


def test_job_with_a_model_from_gcs(spark, model_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"id": 1, "a": 2.5}\n')
    text = f"""
gcsSource: {{format: JSON, uri: {tmp_path}/in.json, features: [a], passthrough: [id]}}
model: {{type: PYFUNC, uri: "gs://{model_bucket}/iris/v1"}}
gcsSink: {{format: PARQUET, uri: {tmp_path}/out}}
"""
    result = run_job(spark, parse_spec_text(text), "gcs_model", "run1")
    assert result.rows_written == 1
    import pandas as pd

    assert pd.read_parquet(tmp_path / "out").to_dict("records") == [
        {"id": 1, "a": 2.5, "prediction": 2.5}
    ]


# --------------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A local MLflow tracking server store (sqlite) with model 'iris': version 1 (behaviour
    ``sum``, alias ``champion``, stage Staging) and version 2 (``constant`` 7)."""
    import mlflow
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        experiment = mlflow.create_experiment("batch", artifact_location=str(root / "artifacts"))
        run_ids = []
        for model in (ProbeModel("sum"), ProbeModel("constant", value=7.0)):
            with mlflow.start_run(experiment_id=experiment) as run:
                mlflow.pyfunc.log_model(
                    name="model", python_model=model, registered_model_name="iris",
                    pip_requirements=TEST_MODEL_REQUIREMENTS,
                )  # fmt: skip
                run_ids.append(run.info.run_id)
        client = MlflowClient()
        client.set_registered_model_alias("iris", "champion", "1")
        with warnings.catch_warnings():  # stages are deprecated, still supported by MLflow
            warnings.simplefilter("ignore", FutureWarning)
            client.transition_model_version_stage("iris", "1", "Staging")
        yield {"tracking_uri": uri, "run_1": run_ids[0], "run_2": run_ids[1]}


@pytest.fixture()
def tracking(registry: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry["tracking_uri"])
    return registry


def _predict(uri: str) -> list[float]:
    import pandas as pd

    model = load_pyfunc(resolve_model(uri))
    return [float(v) for v in model.predict(pd.DataFrame({"a": [1.0, 2.0]}))]


def test_registry_version_alias_stage_and_run(tracking: dict[str, str]) -> None:
    assert _predict("models:/iris/1") == [1.0, 2.0]
    assert _predict("models:/iris/2") == [7.0, 7.0]
    assert _predict("models:/iris@champion") == [1.0, 2.0]
    assert _predict("models:/iris/Staging") == [1.0, 2.0]
    assert _predict(f"runs:/{tracking['run_2']}/model") == [7.0, 7.0]


@pytest.mark.parametrize(
    "uri",
    ["models:/iris/9", "models:/no_such_model/1", "models:/iris@nobody", "runs:/0123abcd/model"],
)
def test_missing_registry_model_names_the_uri(tracking: dict[str, str], uri: str) -> None:
    with pytest.raises(UserError, match=f"model.uri: no model at '{uri}'"):
        resolve_model(uri)


def test_registry_needs_a_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(UserError, match="model.uri: 'models:/iris/1' .* set MLFLOW_TRACKING_URI"):
        resolve_model("models:/iris/1")


def test_job_with_a_registry_model(spark, tracking: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,a\n1,0.5\n2,1.5\n")
    text = f"""
gcsSource: {{format: CSV, uri: {tmp_path}/in.csv, features: [a], passthrough: [id]}}
model: {{type: PYFUNC, uri: "models:/iris@champion"}}
gcsSink: {{format: JSON, uri: {tmp_path}/out}}
"""
    result = run_job(spark, parse_spec_text(text), "registry_model", "run1")
    assert result.rows_written == 2
    assert os.environ["MLFLOW_TRACKING_URI"] == tracking["tracking_uri"]


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match="model.uri: 's3://b/m': models from s3:// are not supported"
    ):
        resolve_model("s3://b/m")
    with pytest.raises(UserError, match="model.uri: no model at"):
        resolve_model(str(tmp_path / "absent"))
