"""The model as a Spark column: an iterator pandas UDF that loads the model once per worker.

The driver resolves ``model.uri`` to a local MLflow model directory and ships it with
``SparkContext.addFile``; executors load it from their ``SparkFiles`` copy, so no executor
needs the driver's disk or the model's origin (bucket, registry).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Tuple  # noqa: UP035 - Spark's UDF type inference needs typing.Tuple

import numpy as np
import pandas as pd
from pyspark import SparkFiles
from pyspark.accumulators import Accumulator
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import BooleanType, StructField, StructType

from spark_job.scoring.isolation import first_failure, isolate_rows
from spark_job.scoring.results import ModelOutputError, result_spark_type, to_result_series
from spark_job.scoring.row_errors import TaskErrors, TaskPolicy
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
    atexit.register(shutil.rmtree, staging, True)  # executors fetch it while the app runs
    archive = staging / name
    # Stored, not deflated: model files are often compressed already (skops, joblib), and
    # deflating a large model costs the driver more than sending its bytes costs the network.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for path in sorted(model_dir.rglob("*")):
            zipped.write(path, path.relative_to(model_dir).as_posix())
    spark.sparkContext.addArchive(str(archive))
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


#: Fields of the struct the model column holds under RECORD_AND_CONTINUE.
VALUE_FIELD, OK_FIELD = "value", "ok"


def prediction_column(
    shipped: ShippedModel,
    features: list[str],
    datetime_features: set[str],
    result: ModelResult,
    rows_predicted: Accumulator[int],
    *columns: Column,
    policy: TaskPolicy | None = None,
    origin: Sequence[Column] = (),
) -> Column:
    """A column holding the model's prediction for ``columns`` (the features, in spec order).

    ``policy`` (the job's error handling) decides what a batch the model raises on becomes:
    FAIL_FAST raises naming the first failing instance (its file and line from the ``origin``
    columns, when the source gives them); RECORD_AND_CONTINUE retries the batch row by row,
    records the failing rows and returns a struct ``{value, ok}`` (``ok`` false for them) for
    the caller to filter. Without ``policy`` the model's error is raised as is.
    """
    feature_names = list(features)
    datetime_names = frozenset(datetime_features)
    shipped_name = shipped.name
    count = len(feature_names)
    record = policy is not None and policy.record

    def predict(batches: Iterator[Any]) -> Iterator[Any]:
        model = load_shipped_model(shipped_name)
        errors = TaskErrors(policy.accumulator if policy else None)
        for batch in batches:
            batch_columns = batch if isinstance(batch, tuple) else (batch,)
            frame = model_input(batch_columns[:count], feature_names, datetime_names)
            values, ok = score_batch(model, frame, batch_columns[count:], policy, result, errors)
            if ok is not None:
                rows_predicted.add(int(ok.sum()))
                yield pd.DataFrame({VALUE_FIELD: values, OK_FIELD: ok})
                continue
            rows_predicted.add(len(frame))
            if record:
                yield pd.DataFrame({VALUE_FIELD: values.reset_index(drop=True), OK_FIELD: True})
            else:
                yield values

    # Spark reads the UDF's kind from its type hints: a tuple of Series for several columns.
    inputs = count + len(origin)
    batch_type = Tuple[pd.Series, ...] if inputs > 1 else pd.Series  # noqa: UP006
    output_type = pd.DataFrame if record else pd.Series
    predict.__annotations__ = {"batches": Iterator[batch_type], "return": Iterator[output_type]}
    return_type = result_spark_type(result)
    if record:
        return_type = StructType(
            [StructField(VALUE_FIELD, return_type), StructField(OK_FIELD, BooleanType())]
        )
    udf = pandas_udf(predict, returnType=return_type)  # type: ignore[call-overload]
    if record:
        # Spark may otherwise copy the call into the filter on ``ok`` and run the model twice.
        udf = udf.asNondeterministic()
    return udf(*columns, *origin)


def keep_predicted(
    scored: DataFrame, kept: list[str], scored_column: str, result_column: str
) -> DataFrame:
    """RECORD_AND_CONTINUE: the rows the model succeeded on, with the prediction unpacked."""
    struct = scored[scored_column]
    return scored.where(struct[OK_FIELD]).select(*kept, struct[VALUE_FIELD].alias(result_column))
