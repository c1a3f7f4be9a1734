"""Helpers for the GCS file tests: buckets on fake-gcs-server, TFRecord bytes, a failing model.

The TFRecord writer here is written from the format's definition (framing + masked CRC32C +
the tf.train.Example wire format), independently of the job's reader, so the tests check the
reader against bytes it did not produce. The module is pickled by value so Spark's Python
workers need not import ``tests``.
"""

from __future__ import annotations

import json
import struct
import sys
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
import google_crc32c
import mlflow.pyfunc
import numpy as np
import pandas as pd

from tests.models import save_pyfunc

cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --------------------------------------------------------------------------- GCS


def new_bucket(prefix: str = "t") -> str:
    from spark_job.storage import gcs

    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    gcs.client().create_bucket(name)
    return name


def put(bucket: str, name: str, data: bytes | str) -> str:
    from spark_job.storage import gcs

    payload = data.encode() if isinstance(data, str) else data
    gcs.write_bytes(gcs.client(), gcs.GcsPath(bucket, name), payload)
    return f"gs://{bucket}/{name}"


def listing(bucket: str, prefix: str = "") -> list[str]:
    """Every object name in ``bucket`` under ``prefix``, sorted; not the job report a file sink
    leaves beside its results (``_report.json``, ``_report.html``: see tests/test_report.py)."""
    from spark_job.report.writer import BESIDE_RESULTS
    from spark_job.storage import gcs

    names = (b.name for b in gcs.client().list_blobs(bucket, prefix=prefix or None))
    return sorted(n for n in names if n.rsplit("/", 1)[-1] not in BESIDE_RESULTS)


def get(bucket: str, name: str) -> bytes:
    from spark_job.storage import gcs

    return gcs.read_bytes(gcs.client(), gcs.GcsPath(bucket, name))


def json_lines(bucket: str, prefix: str, start: str = "prediction.results") -> list[dict]:
    rows = []
    for name in listing(bucket, prefix):
        if name.rsplit("/", 1)[-1].startswith(start):
            rows += [json.loads(line) for line in get(bucket, name).decode().splitlines()]
    return rows


def upload_dir(local: Path, bucket: str, prefix: str) -> str:
    from spark_job.storage import gcs

    gcs.upload_dir(gcs.client(), str(local), gcs.GcsPath(bucket, prefix))
    return f"gs://{bucket}/{prefix}"


# --------------------------------------------------------------------------- TFRecord


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(values: list[Any]) -> bytes:
    if all(isinstance(v, bytes | str) for v in values) and values:
        items = b"".join(_field(1, v.encode() if isinstance(v, str) else v) for v in values)
        return _field(1, items)  # bytes_list
    if any(isinstance(v, float) for v in values):
        packed = struct.pack(f"<{len(values)}f", *values)
        return _field(2, _field(1, packed))  # float_list, packed
    packed = b"".join(_varint(int(v)) for v in values)
    return _field(3, _field(1, packed))  # int64_list, packed


def example(features: dict[str, list[Any]]) -> bytes:
    """A serialized tf.train.Example."""
    entries = b"".join(
        _field(1, _field(1, name.encode()) + _field(2, _feature(values)))
        for name, values in features.items()
    )
    return _field(1, entries)


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(records: list[bytes], corrupt: set[int] = frozenset()) -> bytes:  # type: ignore[assignment]
    """TFRecord file bytes; records whose index is in ``corrupt`` get a wrong data CRC."""
    out = bytearray()
    for index, data in enumerate(records):
        length = struct.pack("<Q", len(data))
        crc = _masked_crc(data) ^ (1 if index in corrupt else 0)
        out += length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", crc)
    return bytes(out)


# --------------------------------------------------------------------------- models


class PickyModel(mlflow.pyfunc.PythonModel):
    """Sums the numeric features; raises on any row whose ``trigger`` column equals ``bad``."""

    def __init__(self, trigger: str, bad: float) -> None:
        self.trigger = trigger
        self.bad = bad

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        if (model_input[self.trigger] == self.bad).any():
            raise ValueError(f"cannot score {self.trigger}={self.bad}")
        return model_input.select_dtypes("number").sum(axis=1).to_numpy(dtype=np.float64)


def save_picky_model(path: Path, trigger: str, bad: float) -> Path:
    return save_pyfunc(path, PickyModel(trigger, bad))
