"""The examples' data and model: iris species from flower measurements and the day they were taken.

The model is a custom pyfunc model so that it shows a DATE feature arriving as pandas datetime64
(it calls ``.dt`` on it, which fails on Python date objects). It is saved with this package as
its code (``code_paths``), so the job's workers can load it from any directory.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

NUMERIC_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DATE_FEATURE = "measured_on"
FEATURES = [*NUMERIC_FEATURES, DATE_FEATURE]
KEY = "flower_id"


def flowers() -> pd.DataFrame:
    """scikit-learn's iris data (150 rows) with an id, a measurement date and the species."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    days = np.random.default_rng(7).integers(0, 365, len(frame))
    frame[DATE_FEATURE] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, "D")).date
    frame.insert(0, KEY, [f"flower-{i:04d}" for i in range(len(frame))])
    return frame


def model_input(frame: pd.DataFrame) -> np.ndarray:
    month = frame[DATE_FEATURE].dt.month.to_numpy(dtype=np.float64)
    return np.column_stack([frame[NUMERIC_FEATURES].to_numpy(dtype=np.float64), month])


class IrisModel(mlflow.pyfunc.PythonModel):
    """Probability that a flower is Iris virginica."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.classifier.predict_proba(_features(model_input))[:, 1]


def _features(frame: pd.DataFrame) -> np.ndarray:
    return model_input(frame)


def train_model(frame: pd.DataFrame, model_dir: Path) -> None:
    """Fit the classifier on ``frame`` and save it as an MLflow model in ``model_dir``."""
    from sklearn.linear_model import LogisticRegression

    features = frame.assign(measured_on=pd.to_datetime(frame[DATE_FEATURE]))
    classifier = LogisticRegression(max_iter=500).fit(
        model_input(features), (frame["target"] == 2).astype(int)
    )
    shutil.rmtree(model_dir, ignore_errors=True)
    mlflow_log = logging.getLogger("mlflow")
    level = mlflow_log.level
    mlflow_log.setLevel(logging.ERROR)  # its notes on pickled models and missing signatures
    try:
        mlflow.pyfunc.save_model(
            str(model_dir),
            python_model=IrisModel(classifier),
            code_paths=[str(Path(__file__).resolve().parent)],
        )
    finally:
        mlflow_log.setLevel(level)
