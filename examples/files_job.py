"""``make run-files``: local Parquet in, the example model, sharded JSON lines out."""

from __future__ import annotations

import sys
from pathlib import Path

from examples.iris_model import flowers, train_model

EXAMPLE_DIR = Path("build/example")
SPEC = Path("conf/examples/iris_local.yaml")


def main() -> int:
    from spark_job.main import main as run_job

    frame = flowers()
    (EXAMPLE_DIR / "input").mkdir(parents=True, exist_ok=True)
    frame.drop(columns=["target"]).to_parquet(
        EXAMPLE_DIR / "input" / "flowers.parquet", index=False
    )
    train_model(frame, EXAMPLE_DIR / "model")
    print(f"example: model and input under {EXAMPLE_DIR}/, spec {SPEC}", flush=True)
    code = run_job(["--job-name", "iris_example", "--spec-path", str(SPEC), "--local"])
    if code == 0:
        outputs = sorted((EXAMPLE_DIR / "predictions").glob("prediction.results-*"))
        print(f"example: predictions in {EXAMPLE_DIR / 'predictions'} ({len(outputs)} files)")
        if outputs:
            print("example: first line:", outputs[0].read_text().splitlines()[0])
        report = EXAMPLE_DIR / "predictions" / "_report.html"
        print(f"example: job report: {report} (open it in a browser; data in _report.json)")
    return code


if __name__ == "__main__":
    sys.exit(main())
