"""Finding the model: turning ``model.uri`` into a local MLflow model directory on the driver."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from spark_job.errors import UserError

FIELD = "model.uri"


def _check_model_dir(path: Path, uri: str) -> Path:
    if not path.exists():
        raise UserError(f"{FIELD}: no model at '{uri}' (the path does not exist).")
    if not (path / "MLmodel").is_file():
        raise UserError(f"{FIELD}: '{uri}' is not an MLflow model directory (no MLmodel file).")
    return path


def resolve_model(uri: str) -> Path:
    """A local directory holding the MLflow model named by ``uri``."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        path = Path(urlparse(uri).path if scheme == "file" else uri).expanduser().absolute()
        return _check_model_dir(path, uri)
    raise UserError(f"{FIELD}: '{uri}': models from {scheme}:// are not supported yet.")
