"""``make run``: train a small model, write an input file, run the example job, print a summary."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLE_DIR = Path("build/example")
SPEC = Path("conf/examples/iris_local.yaml")


def write_inputs(directory: Path) -> pd.DataFrame:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    rng = np.random.default_rng(7)
    days = rng.integers(0, 365, len(frame))
    frame["measured_on"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, "D")).date
    frame.insert(0, "flower_id", [f"flower-{i:04d}" for i in range(len(frame))])
    directory.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=["target"]).to_parquet(directory / "flowers.parquet", index=False)
    return frame


def train_model(frame: pd.DataFrame, model_dir: Path) -> None:
    import mlflow.pyfunc
    from sklearn.linear_model import LogisticRegression

    from spark_job.example_model import IrisModel, model_input

    features = frame.assign(measured_on=pd.to_datetime(frame["measured_on"]))
    classifier = LogisticRegression(max_iter=500).fit(
        model_input(features), (frame["target"] == 2).astype(int)
    )
    shutil.rmtree(model_dir, ignore_errors=True)
    mlflow.pyfunc.save_model(str(model_dir), python_model=IrisModel(classifier))


def main() -> int:
    from spark_job.main import main as run_job

    frame = write_inputs(EXAMPLE_DIR / "input")
    train_model(frame, EXAMPLE_DIR / "model")
    print(f"example: model and input under {EXAMPLE_DIR}/, spec {SPEC}", flush=True)
    code = run_job(["--job-name", "iris_example", "--spec-path", str(SPEC), "--local"])
    if code == 0:
        outputs = sorted((EXAMPLE_DIR / "predictions").glob("prediction.results-*"))
        print(f"example: predictions in {EXAMPLE_DIR / 'predictions'} ({len(outputs)} files)")
        if outputs:
            print("example: first line:", outputs[0].read_text().splitlines()[0])
    return code


if __name__ == "__main__":
    sys.exit(main())
