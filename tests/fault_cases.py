"""The three sinks the fault suite and the resume tests run against, and the one outcome check.

Every case ends the same way or fails: the output is either absent (and no staging is left) or
complete, with every input row exactly once. :class:`Tally` keeps the figures of the README's
fault table (faults injected, rows lost, rows duplicated, staging objects left).

The input is ``FILES`` Parquet files of ``ROWS_PER_FILE`` rows (``id``, ``x``): one partition
per file (``spark.sql.files`` packing puts small files apart under ``local[2]``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow.pyfunc
import pandas as pd
import pyarrow.parquet as pq

from spark_job.storage import gcs
from tests.bq_helpers import create_dataset, run_sql, table_exists
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.models import save_pyfunc

cloudpickle.register_pickle_by_value(sys.modules[__name__])

FILES = 4
ROWS_PER_FILE = 100
ROWS = FILES * ROWS_PER_FILE
DATASET = "faults"
SINKS = ("local", "gcs", "bigquery")


def write_inputs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for part in range(FILES):
        ids = range(part * ROWS_PER_FILE, (part + 1) * ROWS_PER_FILE)
        frame = pd.DataFrame({"id": list(ids), "x": [float(i) for i in ids]})
        frame.to_parquet(directory / f"part-{part}.parquet", index=False)
    return directory


def _is_data(name: str) -> bool:
    """Result files, not markers or a job report beside them (Spark's convention)."""
    return not name.startswith(("_", "."))


@dataclass
class SinkCase:
    """One sink of one test: where it writes, what it left, what it holds."""

    kind: str  # local | gcs | bigquery
    root: Path  # the test's temporary directory
    bucket: str  # a fresh bucket (gs:// output, BigQuery staging)
    name: str = field(default_factory=lambda: f"o{uuid.uuid4().hex[:8]}")
    save_mode: str = "ERRORIFEXISTS"

    @property
    def table(self) -> str:
        return f"{EMULATOR_PROJECT}.{DATASET}.{self.name}"

    @property
    def local_output(self) -> Path:
        return self.root / self.name

    def sink_yaml(self) -> str:
        if self.kind == "local":
            return (
                f"gcsSink: {{format: PARQUET, uri: '{self.local_output}',"
                f" save_mode: {self.save_mode}}}"
            )
        if self.kind == "gcs":
            return (
                f"gcsSink: {{format: PARQUET, uri: 'gs://{self.bucket}/{self.name}',"
                f" save_mode: {self.save_mode}}}"
            )
        return (
            f"bigquerySink: {{table: {self.table}, staging_bucket: {self.bucket},"
            f" save_mode: {self.save_mode}}}"
        )

    def spec_text(self, inputs: str, model: Path) -> str:
        return (
            f"gcsSource: {{format: PARQUET, uri: '{inputs}', features: [x], passthrough: [id]}}\n"
            f"model: {{uri: '{model}'}}\n{self.sink_yaml()}\n"
        )

    def write_spec(self, inputs: str, model: Path) -> Path:
        path = self.root / f"{self.name}.yaml"
        path.write_text(self.spec_text(inputs, model))
        return path

    # ------------------------------------------------------------------ what is there
    def output_rows(self) -> list[tuple[int, float]] | None:
        """``(id, prediction)`` of every published row (None: no output at all)."""
        columns = ["id", "prediction"]
        if self.kind == "local":
            if not self.local_output.exists():
                return None
            files = sorted(p for p in self.local_output.iterdir() if _is_data(p.name))
            tables = [pq.read_table(f, columns=columns) for f in files]
        elif self.kind == "gcs":
            storage = gcs.client()
            objects = gcs.list_prefix(storage, gcs.GcsPath(self.bucket, self.name))
            if not objects:
                return None
            tables = [
                pq.read_table(io.BytesIO(gcs.read_bytes(storage, obj)), columns=columns)
                for obj in objects
                if _is_data(obj.name.rsplit("/", 1)[-1])
            ]
        else:
            if not table_exists(self.table):
                return None
            found = run_sql(f"SELECT id, prediction FROM `{self.table}`")
            return [(int(row["id"]), float(row["prediction"])) for row in found]
        return [
            (int(i), float(p))
            for t in tables
            for i, p in zip(t["id"].to_pylist(), t["prediction"].to_pylist(), strict=True)
        ]

    def output_ids(self) -> list[int] | None:
        rows = self.output_rows()
        return None if rows is None else [i for i, _ in rows]

    def staging_left(self) -> list[str]:
        """Whatever any run left in staging (and error side folders)."""
        if self.kind == "local":
            return sorted(
                str(p)
                for p in self.root.rglob("*")
                if f".{self.name}." in str(p.relative_to(self.root))
            )
        storage = gcs.client()
        names = [p.name for p in gcs.list_prefix(storage, gcs.GcsPath(self.bucket, ""))]
        if self.kind == "gcs":
            return [n for n in names if not n.startswith(f"{self.name}/")]
        return names  # the BigQuery sink's staging bucket holds nothing else


def new_case(kind: str, root: Path, save_mode: str = "ERRORIFEXISTS") -> SinkCase:
    bucket = f"f-{uuid.uuid4().hex[:10]}"
    gcs.client().create_bucket(bucket)
    if kind == "bigquery":
        create_dataset(DATASET)
    return SinkCase(kind, root, bucket, save_mode=save_mode)


# ---------------------------------------------------------------------- the outcome and tally


@dataclass
class Tally:
    """Per fault kind: cases run, faults injected, rows lost, rows duplicated, staging left."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, fault: str, injected: int, lost: int, duplicated: int, left: int) -> None:
        row = self.rows.setdefault(
            fault, {"cases": 0, "faults": 0, "lost": 0, "duplicated": 0, "staging_left": 0}
        )
        row["cases"] += 1
        row["faults"] += injected
        row["lost"] += lost
        row["duplicated"] += duplicated
        row["staging_left"] += left

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        earlier = json.loads(path.read_text()) if path.exists() else {}
        earlier.update(self.rows)
        path.write_text(json.dumps(earlier, indent=2, sort_keys=True) + "\n")


TALLY = Tally()
TALLY_PATH = REPO_ROOT / "build" / "fault-tally.json"


def check_outcome(case: SinkCase, fault: str, injected: int, expect: str | None = None) -> str:
    """Assert the one allowed outcome and tally it; returns ``absent`` or ``complete``.

    ``expect`` (``absent``/``complete``) pins which one when the case decides it."""
    ids = case.output_ids()
    left = case.staging_left()
    if ids is None:
        lost = duplicated = 0
        outcome = "absent"
    else:
        lost = len(set(range(ROWS)) - set(ids))
        duplicated = len(ids) - len(set(ids))
        outcome = "complete"
    TALLY.add(fault, injected, lost, duplicated, len(left))
    assert left == [], f"{fault}/{case.kind}: staging left behind: {left}"
    assert (lost, duplicated) == (0, 0), f"{fault}/{case.kind}: {lost} lost, {duplicated} twice"
    if ids is not None:
        assert sorted(ids) == list(range(ROWS))
    if expect is not None:
        assert outcome == expect, f"{fault}/{case.kind}: {outcome}, expected {expect}"
    return outcome


# ---------------------------------------------------------------------- the CLI in a process


def cli(
    spec: Path, run_id: str, env: dict[str, str] | None = None, job: str = "faults"
) -> subprocess.Popen[str]:
    """``python -m spark_job --local`` in its own process (JSON lines on stdout)."""
    return subprocess.Popen(
        [sys.executable, "-m", "spark_job", *cli_args(spec, run_id, job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})},
    )


def cli_args(spec: Path, run_id: str, job: str = "faults") -> list[str]:
    """The arguments of :func:`cli`, for a rerun in this process (``cli_in_process``): what a
    rerun shows is the job's, whichever process runs it."""
    return ["--job-name", job, "--spec-path", str(spec), "--local", "--run-id", run_id,
            "--log-format", "json"]  # fmt: skip


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def summary_of(stdout: str) -> dict[str, Any]:
    (summary,) = [e for e in events(stdout) if e.get("event") == "summary"]
    return summary


# ---------------------------------------------------------------------- models that fault


class FaultModel(mlflow.pyfunc.PythonModel):
    """Predicts ``x * scale`` and injects one kind of fault (the module is pickled by value,
    so Spark's Python workers need not import ``tests``):

    - ``kill_worker``: the Python worker kills itself (SIGKILL) in the first attempt of
      partition 0, mid-task (once per ``gate`` file: the file is removed first);
    - ``hold_odd``: while the ``gate`` file exists, partitions with an odd index sleep for
      ``seconds`` before predicting (so a test can stop the driver with partition 0 staged);
    - ``hold_all``: every partition writes ``<gate>.started-<pid>`` and waits while the
      ``gate`` file exists (so a test can kill what runs it mid-task);
    - ``none``: no fault.
    """

    def __init__(self, fault: str, gate: str = "", scale: float = 1.0, seconds: float = 120):
        self.fault = fault
        self.gate = gate
        self.scale = scale
        self.seconds = seconds

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        import signal
        import time

        from pyspark import TaskContext

        task = TaskContext.get()
        part = task.partitionId() if task else 0
        if self.fault == "kill_worker" and part == 0 and task and task.attemptNumber() == 0:
            try:
                os.unlink(self.gate)
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "hold_all" and os.path.exists(self.gate):
            Path(f"{self.gate}.started-{os.getpid()}").touch()
        if self.fault == "hold_odd" and part % 2 == 1 or self.fault == "hold_all":
            deadline = time.monotonic() + self.seconds
            while os.path.exists(self.gate) and time.monotonic() < deadline:
                time.sleep(0.2)
        return model_input["x"].to_numpy(dtype=float) * self.scale


def save_fault_model(path: Path, fault: str, **kwargs: Any) -> Path:
    return save_pyfunc(path, FaultModel(fault, **kwargs))
