"""MLflow pyfunc models used by the tests, saved into a test's temporary directory.

The module is pickled by value so Spark's Python workers need not import ``tests``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow.pyfunc
import numpy as np
import pandas as pd

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class ProbeModel(mlflow.pyfunc.PythonModel):
    """A model whose ``predict`` does one of a few things, chosen by ``behaviour``.

    - ``sum``: the row sum of the numeric features (float);
    - ``columns``: the feature names it received, comma-joined, one per row (str);
    - ``year``: the year of the first feature via ``.dt`` (needs datetime64);
    - ``constant``: ``value`` for every row, as given (any type, lists for arrays);
    - ``pairs``: a 2-column array ``[x, 2x]`` of the first feature;
    - ``fail_if_negative``: like ``sum``, but raises on a batch with a negative number;
    - ``slow``: like ``sum``, after sleeping ``value`` seconds per batch;
    - ``param``: the ``params`` entry named ``value``, per row (None without it);
    - ``dtypes``: ``name:dtype`` of each column it received, comma-joined (str);
    - ``fail_attempts``: like ``sum``, but raises in a task whose attempt number is below
      ``value`` (1: every task fails once, transiently, and its retry succeeds).
    ``load_marker``: a directory where each load of the model creates one file, holding the
    JSON of ``context.artifacts`` (where the loading process found the model's artifacts).
    """

    def __init__(self, behaviour: str, value: Any = None, load_marker: str | None = None):
        self.behaviour = behaviour
        self.value = value
        self.load_marker = load_marker

    def load_context(self, context: Any) -> None:
        if self.load_marker:
            marker = Path(self.load_marker, f"load-{os.getpid()}-{id(self)}")
            marker.write_text(json.dumps(dict(context.artifacts or {})))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        rows = len(model_input)
        if self.behaviour == "sum":
            return model_input.select_dtypes("number").sum(axis=1).to_numpy(dtype=float)
        if self.behaviour == "columns":
            return np.array([",".join(model_input.columns)] * rows, dtype=object)
        if self.behaviour == "year":
            return model_input.iloc[:, 0].dt.year.to_numpy()
        if self.behaviour == "constant":
            if isinstance(self.value, list):
                return [list(self.value) for _ in range(rows)]
            return np.array([self.value] * rows, dtype=object)
        if self.behaviour == "slow":  # ``value`` seconds per batch, then ``sum``
            import time

            time.sleep(float(self.value))
            return model_input.select_dtypes("number").sum(axis=1).to_numpy(dtype=float)
        if self.behaviour == "fail_if_negative":
            numbers = model_input.select_dtypes("number")
            if (numbers < 0).any().any():
                raise ValueError("negative feature value")
            return numbers.sum(axis=1).to_numpy(dtype=float)
        if self.behaviour == "pairs":
            first = model_input.iloc[:, 0].to_numpy(dtype=float)
            return np.column_stack([first, 2 * first])
        if self.behaviour == "param":  # the param named ``value``, per row
            return np.array([(params or {}).get(self.value)] * rows, dtype=object)
        if self.behaviour == "fail_attempts":
            from pyspark import TaskContext

            context = TaskContext.get()
            if context is not None and context.attemptNumber() < int(self.value):
                raise RuntimeError(f"transient failure, attempt {context.attemptNumber()}")
            return model_input.select_dtypes("number").sum(axis=1).to_numpy(dtype=float)
        if self.behaviour == "dtypes":
            text = ",".join(f"{name}:{dtype}" for name, dtype in model_input.dtypes.items())
            return np.array([text] * rows, dtype=object)
        raise ValueError(f"unknown behaviour {self.behaviour}")


#: The pip requirements a test's model records: MLflow's defaults (mlflow, cloudpickle).
#: Given none, MLflow infers them by loading the model in a subprocess of its own
#: (``mlflow/utils/_capture_modules.py``: a second or two of CPU per model saved, and the suite
#: saves hundreds); a job reads a model's requirements only to warn of mismatches.
TEST_MODEL_REQUIREMENTS = mlflow.pyfunc.get_default_pip_requirements()


def save_pyfunc(path: str | Path, python_model: Any, **kwargs: Any) -> Path:
    """``mlflow.pyfunc.save_model`` of ``python_model`` into ``path``, with
    :data:`TEST_MODEL_REQUIREMENTS` unless ``kwargs`` name requirements."""
    kwargs.setdefault("pip_requirements", TEST_MODEL_REQUIREMENTS)
    mlflow.pyfunc.save_model(str(path), python_model=python_model, **kwargs)
    return Path(path)


def save_probe_model(
    path: Path, behaviour: str, artifacts: dict[str, str] | None = None, **kwargs: Any
) -> Path:
    """Save a :class:`ProbeModel`; ``artifacts`` (name → local file) are copied into it."""
    return save_pyfunc(path, ProbeModel(behaviour, **kwargs), artifacts=artifacts)
