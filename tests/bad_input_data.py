"""What the bad-input table (``tests/bad_input_cases.py``) is built from: models that
misbehave, damaged input files, a workspace that saves each model once.

The module is pickled by value so Spark's Python workers can unpickle the models defined here
without importing ``tests``.
"""

from __future__ import annotations

import gzip
import io
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow.pyfunc
import numpy as np
import pandas as pd

from tests.models import save_pyfunc

cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --------------------------------------------------------------------------- models


class BadModel(mlflow.pyfunc.PythonModel):
    """A model that misbehaves as ``behaviour`` says:

    - ``sum``: behaves (the sum of the numeric features, float);
    - ``raise``: raises ``ValueError`` on a batch holding a negative number;
    - ``short``: one prediction fewer than rows;
    - ``text``: the text ``"high"`` for every row;
    - ``scalar``: one float per row (for a declared ARRAY);
    - ``frame``: a DataFrame without the declared STRUCT field ``score``;
    - ``load_fails``: loading raises, after ``delay`` seconds (a slow model that cannot load);
    - ``slow_text``: ``delay`` seconds per batch, then the text ``"high"``.
    """

    def __init__(self, behaviour: str, delay: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay = delay

    def load_context(self, context: Any) -> None:
        if self.behaviour == "load_fails":
            time.sleep(self.delay)
            raise RuntimeError("cannot open weights.bin: checksum mismatch")

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        numbers = model_input.select_dtypes("number")
        rows = len(model_input)
        if self.behaviour == "raise" and (numbers < 0).any().any():
            raise ValueError("negative feature value")
        if self.behaviour == "short":
            return np.zeros(max(rows - 1, 0))
        if self.behaviour == "slow_text":
            time.sleep(self.delay)
        if self.behaviour in ("text", "slow_text"):
            return np.array(["high"] * rows, dtype=object)
        if self.behaviour == "frame":
            return pd.DataFrame({"label": ["a"] * rows})
        return numbers.sum(axis=1).to_numpy(dtype=float)


def _signature(inputs: dict[str, str], params: dict[str, tuple[str, Any]] | None = None) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec(kind, name) for name, kind in inputs.items()]),
        params=ParamSchema([ParamSpec(n, t, d) for n, (t, d) in params.items()])
        if params
        else None,
    )


#: name → how to save it into a directory.
MODELS: dict[str, Callable[[Path], None]] = {
    "sum": lambda p: save_pyfunc(p, BadModel("sum")),
    "raise": lambda p: save_pyfunc(p, BadModel("raise")),
    "short": lambda p: save_pyfunc(p, BadModel("short")),
    "text": lambda p: save_pyfunc(p, BadModel("text")),
    "scalar": lambda p: save_pyfunc(p, BadModel("scalar")),
    "frame": lambda p: save_pyfunc(p, BadModel("frame")),
    "load_fails": lambda p: save_pyfunc(p, BadModel("load_fails", delay=1.0)),
    "slow_text": lambda p: save_pyfunc(p, BadModel("slow_text", delay=1.0)),
    "signed": lambda p: save_pyfunc(
        p,
        BadModel("sum"),
        signature=_signature({"x": "double"}, {"threshold": ("double", 0.5)}),
    ),
}


def _corrupt_pickle(path: Path) -> None:
    MODELS["sum"](path)
    (path / "python_model.pkl").write_bytes(b"\x80\x04not a pickle at all")


def _bad_mlmodel(path: Path) -> None:
    MODELS["sum"](path)
    (path / "MLmodel").write_text("flavors: [python_function\nsignature: {")


MODELS["corrupt_pickle"] = _corrupt_pickle
MODELS["bad_mlmodel"] = _bad_mlmodel
MODELS["no_mlmodel"] = lambda p: p.mkdir(parents=True)


# --------------------------------------------------------------------------- data


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def avro_bytes(records: list[dict[str, Any]]) -> bytes:
    import fastavro

    schema = {
        "type": "record",
        "name": "row",
        "fields": [{"name": "id", "type": "long"}, {"name": "x", "type": "double"}],
    }
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema, records)
    return buffer.getvalue()


def good_parquet() -> bytes:
    return parquet_bytes(pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}))


def truncated_gzip() -> bytes:
    data = gzip.compress("".join(f'{{"id": {i}, "x": {i}.5}}\n' for i in range(500)).encode())
    return data[: len(data) // 2]


def corrupt_avro() -> bytes:
    data = avro_bytes([{"id": i, "x": float(i)} for i in range(200)])
    return data[:-40] + b"\xff" * 40  # the last block's bytes and sync marker damaged


def nested_parquet() -> bytes:
    return parquet_bytes(pd.DataFrame({"id": [1, 2], "x": [{"a": 1.0}, {"a": 2.0}]}))


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Workspace:
    """The directory of the module's cases; models saved on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._models: dict[str, Path] = {}

    def model(self, name: str) -> Path:
        if name not in self._models:
            path = self.root / "models" / name
            if path.exists():
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            MODELS[name](path)
            self._models[name] = path
        return self._models[name]
