"""Finding the model: turning ``model.uri`` into a local MLflow model directory on the driver.

``model.uri`` may be

- a local path or ``file://`` URI: used in place;
- ``gs://bucket/path``: every object under ``path/`` is downloaded once, by the driver, into a
  temporary directory (removed at exit);
- ``models:/name/version``, ``models:/name/stage``, ``models:/name@alias`` or
  ``runs:/run_id/path``: downloaded through MLflow from the tracking server and model registry
  of ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_REGISTRY_URI`` when the registry is elsewhere).

The runner ships the local directory to executors with Spark's file distribution
(:func:`spark_job.scoring.model.ship_model`), so executors never read the bucket or the registry.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from google.api_core import exceptions

from spark_job.errors import UserError
from spark_job.storage import gcs

FIELD = "model.uri"
MLFLOW_SCHEMES = ("models", "runs")

# MLflow error codes meaning "the model you named is not there".
_NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def _check_model_dir(path: Path, uri: str) -> Path:
    if not path.exists():
        raise UserError(f"{FIELD}: no model at '{uri}' (the path does not exist).")
    if not (path / "MLmodel").is_file():
        raise UserError(f"{FIELD}: '{uri}' is not an MLflow model directory (no MLmodel file).")
    return path


def _temporary_dir() -> Path:
    directory = tempfile.mkdtemp(prefix="spark_job_model_")
    atexit.register(shutil.rmtree, directory, True)
    return Path(directory)


def _from_gcs(uri: str) -> Path:
    try:
        path = gcs.parse(uri.rstrip("/"))
    except ValueError as error:
        raise UserError(f"{FIELD}: {error}") from None
    storage = gcs.client()
    try:
        objects = gcs.list_prefix(storage, path)
    except (exceptions.NotFound, exceptions.Forbidden) as error:
        raise UserError(f"{FIELD}: cannot read '{uri}': {error.message}") from None
    if not objects:
        raise UserError(f"{FIELD}: no model at '{uri}' (no object under it).")
    prefix = path.name.rstrip("/") + "/" if path.name else ""
    if not any(o.name == f"{prefix}MLmodel" for o in objects):
        raise UserError(f"{FIELD}: '{uri}' is not an MLflow model directory (no MLmodel file).")
    target = _temporary_dir() / "model"
    gcs.download_prefix(storage, path, str(target))
    return target


def _from_mlflow(uri: str) -> Path:
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise UserError(
            f"{FIELD}: '{uri}' names a model in an MLflow registry or run; set"
            " MLFLOW_TRACKING_URI to the tracking server (e.g. http://mlflow:5000 or"
            " sqlite:///path/mlflow.db)."
        )
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(_temporary_dir())
        )
    except MlflowException as error:
        if error.error_code in _NOT_FOUND_CODES:
            message = str(error.message).splitlines()[0]
            raise UserError(f"{FIELD}: no model at '{uri}': {message}") from None
        raise
    return _check_model_dir(Path(local), uri)


def resolve_model(uri: str) -> Path:
    """A local directory holding the MLflow model named by ``uri``."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        path = Path(urlparse(uri).path if scheme == "file" else uri).expanduser().absolute()
        return _check_model_dir(path, uri)
    if scheme == "gs":
        return _from_gcs(uri)
    if scheme in MLFLOW_SCHEMES:
        return _from_mlflow(uri)
    raise UserError(
        f"{FIELD}: '{uri}': models from {scheme}:// are not supported; use a local path,"
        " gs://bucket/path, models:/name/version|stage, models:/name@alias or runs:/id/path."
    )
