"""The model as a Spark column: an iterator pandas UDF that loads the model once per worker.

The driver resolves ``model.uri`` to a local MLflow model directory and ships it with
``SparkContext.addFile``; executors load it from their ``SparkFiles`` copy, so no executor
needs the driver's disk or the model's origin (bucket, registry).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Tuple  # noqa: UP035 - Spark's UDF type inference needs typing.Tuple

import pandas as pd
from pyspark import SparkFiles
from pyspark.accumulators import Accumulator
from pyspark.sql import Column, SparkSession
from pyspark.sql.functions import pandas_udf

from spark_job.results import result_spark_type, to_result_series
from spark_job.spec import ModelResult

# Models loaded in this Python process, by shipped name. Spark reuses Python workers
# (spark.python.worker.reuse), so a worker loads a model once for all its tasks and batches.
_LOADED_MODELS: dict[str, Any] = {}


def load_pyfunc(model_dir: str | Path) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(model_dir))


def load_shipped_model(shipped_name: str) -> Any:
    """Return the model shipped as ``shipped_name``, loading it at most once per process."""
    model = _LOADED_MODELS.get(shipped_name)
    if model is None:
        model = load_pyfunc(SparkFiles.get(shipped_name))
        _LOADED_MODELS[shipped_name] = model
    return model


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
    archive = shutil.make_archive(str(staging / name.removesuffix(".zip")), "zip", model_dir)
    spark.sparkContext.addArchive(archive)
    return ShippedModel(name=name, local_dir=staging)


def _as_model_input(
    columns: tuple[pd.Series, ...], features: list[str], datetime_features: frozenset[str]
) -> pd.DataFrame:
    frame = pd.DataFrame(dict(zip(features, columns, strict=True)), copy=False)
    for name in datetime_features:
        # Spark hands DATE columns to pandas as Python date objects; models expect datetime64.
        frame[name] = pd.to_datetime(frame[name])
    return frame


def prediction_column(
    shipped: ShippedModel,
    features: list[str],
    datetime_features: set[str],
    result: ModelResult,
    rows_predicted: Accumulator[int],
    *columns: Column,
) -> Column:
    """A column holding the model's prediction for ``columns`` (the features, in spec order)."""
    feature_names = list(features)
    datetime_names = frozenset(datetime_features)
    shipped_name = shipped.name

    def predict(batches: Iterator[Any]) -> Iterator[pd.Series]:
        model = load_shipped_model(shipped_name)
        for batch in batches:
            batch_columns = batch if isinstance(batch, tuple) else (batch,)
            frame = _as_model_input(batch_columns, feature_names, datetime_names)
            output = model.predict(frame)
            rows_predicted.add(len(frame))
            yield to_result_series(output, result, len(frame))

    # Spark reads the UDF's kind from its type hints: a tuple of Series for several columns.
    batch_type = Tuple[pd.Series, ...] if len(feature_names) > 1 else pd.Series  # noqa: UP006
    predict.__annotations__ = {"batches": Iterator[batch_type], "return": Iterator[pd.Series]}
    udf = pandas_udf(predict, returnType=result_spark_type(result))  # type: ignore[call-overload]
    return udf(*columns)
