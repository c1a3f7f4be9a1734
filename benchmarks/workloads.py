"""The bench's workloads: data and models it generates, Parquet in → Parquet out.

Sizes come from the environment so that a quick run can use small ones (see
:mod:`benchmarks.run`). Data and models go under ``benchmarks/data/`` (not in git), one
directory per size, generated once and reused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).parent / "data"
FEATURES = [f"f{i}" for i in range(8)]
FILES_PER_INPUT = 4
ROW_GROUP_ROWS = 250_000

#: name → (rows env var, default rows, model kind)
SIZES: dict[str, tuple[str, int, str]] = {
    "cheap": ("BENCH_CHEAP_ROWS", 20_000_000, "logistic"),
    "heavy": ("BENCH_HEAVY_ROWS", 1_000_000, "forest"),
    "fixed": ("BENCH_FIXED_ROWS", 1_000, "logistic"),
}


@dataclass(frozen=True)
class Workload:
    name: str
    rows: int
    model_kind: str  # logistic | forest

    @property
    def input_dir(self) -> Path:
        return DATA / f"{self.model_kind}_{self.rows}" / "input"

    @property
    def model_dir(self) -> Path:
        return DATA / f"model_{self.model_kind}"

    @property
    def batch_rows(self) -> int:
        """Rows per batch of the single-process contender (one input row group)."""
        return ROW_GROUP_ROWS


def workloads() -> list[Workload]:
    """The workloads at the sizes the environment asks for (0 rows: skipped)."""
    found = [workload_named(name) for name in SIZES]
    return [w for w in found if w.rows > 0]


def workload_named(name: str, rows: int | None = None) -> Workload:
    variable, default, kind = SIZES[name]
    return Workload(name, int(os.environ.get(variable, default)) if rows is None else rows, kind)


def _features(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, len(FEATURES)))


def write_input(workload: Workload) -> None:
    """``FILES_PER_INPUT`` Parquet files (fewer for tiny inputs) of an id and 8 doubles."""
    if workload.input_dir.exists():
        return
    partial = workload.input_dir.with_name("input.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    files = max(1, min(FILES_PER_INPUT, workload.rows // 10_000))
    per_file = -(-workload.rows // files)
    for index in range(files):
        start = index * per_file
        rows = min(per_file, workload.rows - start)
        with pq.ParquetWriter(partial / f"part-{index}.parquet", _schema()) as writer:
            for offset in range(0, rows, ROW_GROUP_ROWS):  # bounded memory at 20M rows
                count = min(ROW_GROUP_ROWS, rows - offset)
                values = _features(count, seed=index * 1_000 + offset // ROW_GROUP_ROWS)
                ids = np.arange(start + offset, start + offset + count, dtype=np.int64)
                columns = {"id": ids} | {n: values[:, i] for i, n in enumerate(FEATURES)}
                writer.write_table(pa.table(columns, schema=_schema()))
    partial.rename(workload.input_dir)


def _schema() -> pa.Schema:
    return pa.schema([("id", pa.int64())] + [(name, pa.float64()) for name in FEATURES])


def train_model(workload: Workload) -> None:
    if workload.model_dir.exists():
        return
    import mlflow.sklearn
    import pandas as pd

    values = _features(20_000, seed=99)
    labels = (values[:, 0] + values[:, 1] * values[:, 2] > 0).astype(int)
    frame = pd.DataFrame(values, columns=FEATURES)
    if workload.model_kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500).fit(frame, labels)
    else:
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=300, max_depth=12, n_jobs=1, random_state=0)
        model.fit(frame, labels)
    from mlflow.models import infer_signature

    signature = infer_signature(frame, model.predict(frame).astype(float))
    mlflow.sklearn.save_model(
        model,
        str(workload.model_dir),
        pyfunc_predict_fn="predict",
        signature=signature,
        skops_trusted_types=["sklearn.tree._tree.Tree"],  # a model this bench made itself
    )


def prepare(workload: Workload) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    write_input(workload)
    train_model(workload)
