"""The example's model: iris species from flower measurements and the day they were taken.

It is a custom pyfunc model so that it can show a DATE feature arriving as pandas datetime64
(it calls ``.dt`` on it, which fails on Python date objects).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

NUMERIC_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DATE_FEATURE = "measured_on"


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
