"""The model on executors: shipped once, loaded once per Python worker, applied to a batch.

The driver resolves ``model.uri`` to a local MLflow model directory and ships it with
``SparkContext.addFile``; executors load it from their ``SparkFiles`` copy, so no executor
needs the driver's disk or the model's origin (bucket, registry).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark import SparkFiles
from pyspark.sql import SparkSession

from spark_job.scoring.isolation import first_failure, isolate_rows
from spark_job.scoring.results import ModelOutputError, to_result_series
from spark_job.scoring.row_errors import TaskErrors, TaskPolicy
from spark_job.spec import ModelResult
from spark_job.spec.fields import error_line

# Models loaded in this Python process, by shipped name. Spark reuses Python workers
# (spark.python.worker.reuse), so a worker loads a model once for all its tasks and batches.
_LOADED_MODELS: dict[str, Any] = {}


def load_pyfunc(model_dir: str | Path, check_requirements: bool = True) -> Any:
    """The MLflow model in ``model_dir``. ``check_requirements``: MLflow compares the model's
    pip requirements with the installed packages and warns of mismatches (scanning every
    installed distribution: ~0.6 s); executors skip it, the driver checks once
    (:func:`check_requirements_in_background`)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=not check_requirements)


def check_requirements_in_background(model_dir: Path) -> None:
    """MLflow's warning of the model's requirements that the installed packages do not meet,
    logged by the driver in a background thread (the job does not wait for it)."""

    def check() -> None:
        try:
            from mlflow.pyfunc import _get_pip_requirements_from_model_path
            from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

            warn_dependency_requirement_mismatches(
                _get_pip_requirements_from_model_path(str(model_dir))
            )
        except Exception as error:  # only a warning is lost
            logging.getLogger(__name__).debug("requirements not checked: %s", error)

    threading.Thread(target=check, name="spark_job-requirements", daemon=True).start()


class ModelLoadError(Exception):
    """The shipped model cannot be loaded (a corrupt file, a ``load_context`` that raises):
    the user's model is broken, whatever its data."""


def load_shipped_model(shipped_name: str) -> Any:
    """Return the model shipped as ``shipped_name``, loading it at most once per process;
    ModelLoadError (naming ``model.uri``) when loading it fails."""
    model = _LOADED_MODELS.get(shipped_name)
    if model is None:
        try:
            model = load_pyfunc(SparkFiles.get(shipped_name), check_requirements=False)
        except Exception as error:
            reason = error_line(error) or type(error).__name__
            raise ModelLoadError(
                f"model.uri: the model cannot be loaded: {type(error).__name__}: {reason}"
            ) from error
        _LOADED_MODELS[shipped_name] = model
    return model


@dataclass(frozen=True)
class WithParams:
    """A loaded model whose every ``predict`` gets ``params`` (``model.params`` merged over the
    signature's defaults): whole batches and the single rows of failure isolation alike."""

    model: Any
    params: dict[str, Any]

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.model.predict(frame, params=self.params)


@dataclass(frozen=True)
class ShippedModel:
    """A model directory distributed to every executor under ``name``."""

    name: str
    local_dir: Path


def ship_model(spark: SparkSession, model_dir: Path) -> ShippedModel:
    """Zip ``model_dir`` under a unique name and add it to the job's archives.

    Spark unpacks an archive on every executor (``addFile`` would not take a local directory
    outside local mode); ``SparkFiles.get(name)`` is then the unpacked model directory.
    """
    name = f"spark_job_model_{uuid.uuid4().hex[:12]}.zip"
    staging = Path(tempfile.mkdtemp(prefix="spark_job_ship_"))
    atexit.register(shutil.rmtree, staging, True)  # executors fetch it while the app runs
    archive = staging / name
    # Stored, not deflated: model files are often compressed already (skops, joblib), and
    # deflating a large model costs the driver more than sending its bytes costs the network.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for path in sorted(model_dir.rglob("*")):
            zipped.write(path, path.relative_to(model_dir).as_posix())
    spark.sparkContext.addArchive(str(archive))
    check_requirements_in_background(model_dir)
    return ShippedModel(name=name, local_dir=staging)


def model_input(
    columns: Sequence[pd.Series], features: list[str], datetime_features: frozenset[str]
) -> pd.DataFrame:
    """The model's input frame: ``columns`` named ``features``, dates as datetime64."""
    frame = pd.DataFrame(dict(zip(features, columns, strict=True)), copy=False)
    for name in datetime_features:
        # Spark hands DATE columns to pandas as Python date objects; models expect datetime64.
        frame[name] = pd.to_datetime(frame[name])
    return frame


def score_batch(
    model: Any,
    frame: pd.DataFrame,
    origin_columns: Sequence[pd.Series],
    policy: TaskPolicy | None,
    result: ModelResult,
    errors: TaskErrors,
) -> tuple[pd.Series, np.ndarray | None]:
    """The model's predictions for ``frame`` as ``result``'s type, and which rows succeeded
    (None: all of them).

    ``policy`` (the job's error handling) decides what a batch the model raises on becomes:
    FAIL_FAST raises naming the first failing instance (its file and line from
    ``origin_columns``, when the source gives them); RECORD_AND_CONTINUE retries the batch row
    by row and records the failing rows. Without ``policy`` the model's error is raised as is.
    """
    try:
        return to_result_series(model.predict(frame), result, len(frame)), None
    except ModelOutputError:
        raise
    except Exception as error:
        if policy is None:
            raise
        if not policy.record:
            raise first_failure(model, frame, origin_columns, policy, result, error) from error
        values, ok = isolate_rows(model, frame, origin_columns, policy, result, errors)
        errors.flush()
        return values, ok
