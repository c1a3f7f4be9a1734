"""The bench's workloads: data and models it generates, Parquet in → Parquet out."""

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


@dataclass(frozen=True)
class Workload:
    name: str
    rows: int
    model_kind: str  # logistic | forest

    @property
    def input_dir(self) -> Path:
        return DATA / f"{self.name}_{self.rows}" / "input"

    @property
    def model_dir(self) -> Path:
        return DATA / f"model_{self.model_kind}"

    @property
    def batch_rows(self) -> int:
        """Rows per batch of the single-process contender (one input row group)."""
        return ROW_GROUP_ROWS


def workloads() -> list[Workload]:
    return [
        Workload("cheap", int(os.environ.get("BENCH_CHEAP_ROWS", 2_000_000)), "logistic"),
        Workload("heavy", int(os.environ.get("BENCH_HEAVY_ROWS", 200_000)), "forest"),
    ]


def workload_named(name: str, rows: int) -> Workload:
    kind = next(w.model_kind for w in workloads() if w.name == name)
    return Workload(name, rows, kind)


def _features(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, len(FEATURES)))


def write_input(workload: Workload) -> None:
    if workload.input_dir.exists():
        return
    partial = workload.input_dir.with_name("input.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    per_file = -(-workload.rows // FILES_PER_INPUT)
    for index in range(FILES_PER_INPUT):
        rows = min(per_file, workload.rows - index * per_file)
        values = _features(rows, seed=index)
        table = pa.table(
            {"id": np.arange(index * per_file, index * per_file + rows, dtype=np.int64)}
            | {name: values[:, i] for i, name in enumerate(FEATURES)}
        )
        pq.write_table(table, partial / f"part-{index}.parquet", row_group_size=ROW_GROUP_ROWS)
    partial.rename(workload.input_dir)


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
