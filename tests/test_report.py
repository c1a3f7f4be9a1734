"""The job report through the CLI: numbers equal pandas, drift flagged on a shifted copy and not on
a reshuffled one, exit code 3 with ``failOnDrift``, the HTML opened in headless Chromium, every
sink (local files, gs:// files, BigQuery on the emulator); retried tasks counted once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image, ImageStat

from spark_job.errors import UserError
from spark_job.report.collector import ReportCollector
from spark_job.report.sketch import ALPHA
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from spark_job.storage import gcs
from tests.bq_helpers import create_dataset, run_sql
from tests.conftest import EMULATOR_PROJECT, REPO_ROOT
from tests.gcs_helpers import get, listing, new_bucket
from tests.models import save_probe_model

ROWS = 2000
DATASET = "report_tests"
SCREENSHOT = REPO_ROOT / "build" / "report-test.png"


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, ROWS)
    x[rng.choice(ROWS, 100, replace=False)] = np.nan
    colour = rng.choice(["red", "green", "blue"], ROWS, p=[0.6, 0.3, 0.1]).astype(object)
    colour[rng.choice(ROWS, 40, replace=False)] = None
    return pd.DataFrame(
        {"id": np.arange(ROWS), "x": x, "n": rng.integers(0, 10, ROWS), "colour": colour,
         "flag": rng.random(ROWS) < 0.3}
    )  # fmt: skip


def _write(frame: pd.DataFrame, folder: Path, files: int) -> Path:
    folder.mkdir(parents=True)
    bounds = np.linspace(0, len(frame), files + 1).astype(int)
    for index in range(files):
        part = frame.iloc[bounds[index] : bounds[index + 1]]
        part.to_parquet(folder / f"part-{index}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def data(emulators: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("report")
    frame = _frame()
    shifted = frame.assign(x=frame["x"] + 9.0)  # three standard deviations
    shifted["colour"] = shifted["colour"].map({"red": "blue", "blue": "red", "green": "green"})
    reshuffled = frame.sample(frac=1.0, random_state=3)
    return {
        "root": root,
        "frame": frame,
        "input": _write(frame, root / "input", 4),
        "reshuffled": _write(reshuffled, root / "reshuffled", 3),
        "shifted": _write(shifted, root / "shifted", 4),
        "model": save_probe_model(root / "model", "sum"),
        "bucket": new_bucket("report"),
    }


def _spec(data: dict[str, Any], name: str, source: str, sink: str, report: str = "") -> Path:
    path = data["root"] / f"{name}.yaml"
    path.write_text(f"""
gcsSource: {{format: PARQUET, uri: "{data[source]}", features: [x, n, colour, flag],
             passthrough: [id]}}
model: {{uri: "{data["model"]}"}}
{sink}
{report}
""")
    return path


def _cli(cli: Any, spec: Path, job: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The job through the command line, run by ``cli`` (the ``cli_in_process`` fixture)."""
    return cli("--job-name", job, "--spec-path", str(spec), "--local", "--log-format", "json",
               *extra)  # fmt: skip


def _summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "summary")


def _close(estimate: float, exact: float) -> bool:
    """Within the sketch's stated bound (spark_job/report/sketch.py)."""
    if abs(exact) < 2.2250738585072014e-308:  # zero and subnormals
        return abs(estimate - exact) < 2.3e-308
    return abs(estimate - exact) <= ALPHA * abs(exact) * (1 + 1e-12)


def _assert_equals_pandas(summary: dict[str, Any], series: pd.Series) -> None:
    assert summary["count"] == series.count()
    assert summary["nulls"] == series.isna().sum()
    if summary["kind"] == "number":
        assert summary["min"] == series.min() and summary["max"] == series.max()
        assert summary["mean"] == pytest.approx(series.mean(), rel=1e-9)
        assert summary["stddev"] == pytest.approx(series.std(), rel=1e-9)
        for q, value in summary["quantiles"].items():
            assert _close(value, series.quantile(float(q), interpolation="lower")), q
        assert sum(summary["histogram"]["counts"]) == series.count()
    else:
        assert summary["top"]["undercount"] == 0  # few distinct values: exact counts
        assert dict(map(tuple, summary["top"]["values"])) == series.value_counts().to_dict()


# --------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed here when missing (the tests run as root)."""
    found = shutil.which("chromium")
    if found is None:
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=True)
            subprocess.run(install, capture_output=True, env=env, check=True)
        found = shutil.which("chromium")
    assert found, "chromium could not be installed"
    return found


def _open_in_chromium(chromium: str, page: Path, screenshot: Path) -> tuple[str, list[str]]:
    """The page's DOM as Chromium rendered it, and the page's console messages (a
    screenshot saved on the way)."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--enable-logging=stderr", "--v=0", "--window-size=1280,1500"]  # fmt: skip
    shot = subprocess.run([*base, f"--screenshot={screenshot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.returncode == 0 and dom.returncode == 0, shot.stderr[-2000:] + dom.stderr[-2000:]
    console = [line for line in (shot.stderr + dom.stderr).splitlines() if ":CONSOLE" in line]
    return dom.stdout, console


def test_chromium_reports_a_pages_console_errors(chromium: str, tmp_path: Path) -> None:
    """The console check below can fail: a page with an error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); nope();</script>")
    _, console = _open_in_chromium(chromium, page, tmp_path / "broken.png")
    assert any("boom" in line for line in console)
    assert any("nope is not defined" in line for line in console)


def _assert_not_blank(png: Path) -> None:
    image = Image.open(png).convert("L")
    assert image.size == (1280, 1500)
    assert ImageStat.Stat(image).stddev[0] > 10  # text and charts, not one colour
    colours = Image.open(png).convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20


# --------------------------------------------------------------------------- the tests


def test_file_sink_report_equals_pandas_and_opens_in_chromium(
    data, chromium, cli_in_process
) -> None:
    output = data["root"] / "out"
    status = data["root"] / "status.json"
    spec = _spec(data, "files", "input", f'gcsSink: {{format: JSON, uri: "{output}"}}')
    proc = _cli(cli_in_process, spec, "report_files", "--status-path", str(status))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = _summary(proc)
    assert summary["summary"].endswith(f"; report: {output}/_report.html")
    assert json.loads(status.read_text())["report"] == f"{output}/_report.json"

    report = json.loads((output / "_report.json").read_text())
    frame = data["frame"]
    assert report["rows"] == {"read": ROWS, "predicted": ROWS, "failed": 0, "written": ROWS}
    assert set(report["stage_seconds"]) >= {"session", "prepare", "predict", "publish", "total"}
    for name in ("x", "n", "colour", "flag"):
        _assert_equals_pandas(report["features"][name], frame[name])
    results = pd.concat(pd.read_json(p, lines=True) for p in output.glob("prediction.results-*"))
    assert len(results) == ROWS  # the report is no result shard
    _assert_equals_pandas(report["prediction"]["prediction"], results["prediction"])
    assert report["features"]["n"]["quantiles"]["0.5"] == frame["n"].quantile(0.5, "lower")

    dom, console = _open_in_chromium(chromium, output / "_report.html", SCREENSHOT)
    assert console == [], console
    assert "Job report: report_files" in dom and dom.count("<svg") >= 5
    _assert_not_blank(SCREENSHOT)


def test_drift_not_on_a_reshuffled_copy_gs_sink(data, cli_in_process) -> None:
    """gs:// results: the report beside them; the reshuffled input drifts nowhere."""
    reference = data["root"] / "out" / "_report.json"
    assert reference.exists(), "runs after the file sink test"
    bucket = data["bucket"]
    sink = f'gcsSink: {{format: PARQUET, uri: "gs://{bucket}/scored", save_mode: OVERWRITE}}'
    report = f'report: {{reference: "{reference}", failOnDrift: true}}'
    proc = _cli(cli_in_process, _spec(data, "gs", "reshuffled", sink, report), "report_gs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _summary(proc)["report"] == f"gs://{bucket}/scored/_report.html"
    names = [b.name for b in gcs.client().list_blobs(bucket, prefix="scored/")]
    assert {"scored/_report.json", "scored/_report.html"} <= set(names)
    results = listing(bucket, "scored/")  # what a reader of the results takes
    assert results and all(n.endswith(".parquet") for n in results)
    written = json.loads(get(bucket, "scored/_report.json"))
    drift = written["drift"]
    assert drift["flagged"] == [] and drift["reference"] == str(reference)
    assert set(drift["features"]) == {"x", "n", "colour", "flag"}
    assert all(d["psi"] < 0.01 for d in [*drift["features"].values(),
                                         *drift["prediction"].values()])  # fmt: skip


def test_drift_on_a_shifted_copy_bigquery_sink_exits_3(data, cli_in_process) -> None:
    """BigQuery on the emulator: the report under report.path (gs://), the reference read from
    gs://; the results are loaded and the job ends with exit code 3."""
    create_dataset(DATASET)
    bucket = data["bucket"]
    table = f"{EMULATOR_PROJECT}.{DATASET}.shifted"
    sink = f"""bigquerySink:
  table: {table}
  staging_bucket: {bucket}
  save_mode: OVERWRITE
  options: {{engine: storage-api}}"""
    report = (
        f'report: {{path: "gs://{bucket}/reports/shifted", failOnDrift: true,'
        f' reference: "gs://{bucket}/scored/_report.json", driftThreshold: 0.25}}'
    )
    status = data["root"] / "bq-status.json"
    spec = _spec(data, "bq", "shifted", sink, report)
    proc = _cli(cli_in_process, spec, "report_bq", "--status-path", str(status))
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert re.search(r"error: report.failOnDrift: drift above report.driftThreshold in .*x \(PSI",
                     proc.stderr)  # fmt: skip
    assert "Traceback" not in proc.stderr
    assert run_sql(f"SELECT COUNT(*) AS n FROM `{table}`")[0]["n"] == ROWS  # published
    document = json.loads(get(bucket, "reports/shifted/report.json"))
    flagged = {(f["section"], f["column"]) for f in document["drift"]["flagged"]}
    assert flagged == {("features", "x"), ("features", "colour"), ("prediction", "prediction")}
    assert document["drift"]["threshold"] == 0.25
    assert "<svg" in get(bucket, "reports/shifted/report.html").decode()
    state = json.loads(status.read_text())
    assert state["state"] == "COMPLETED" and set(state["drift_flagged"]) == {"x", "colour",
                                                                          "prediction"}  # fmt: skip


@pytest.mark.spark35
def test_overwrite_replaces_the_report_and_readers_skip_it(spark, data, tmp_path) -> None:
    output = tmp_path / "out"

    def run(source: str, run_id: str) -> dict[str, Any]:
        sink = f'gcsSink: {{format: PARQUET, uri: "{output}", save_mode: OVERWRITE}}'
        text = _spec(data, run_id, source, sink)
        result = run_job(spark, parse_spec_text(text.read_text()), "overwrite", run_id)
        assert result.report == f"{output}/_report.html"
        return json.loads((output / "_report.json").read_text())

    first = run("input", "o1")
    second = run("shifted", "o2")
    assert first["job"]["run_id"] == "o1" and second["job"]["run_id"] == "o2"
    assert second["features"]["x"]["mean"] == pytest.approx(first["features"]["x"]["mean"] + 9)
    assert len(pd.read_parquet(output)) == ROWS  # pyarrow skips _report.*


def test_report_user_errors_before_anything_is_written(spark, data, tmp_path) -> None:
    output = tmp_path / "out"
    sink = f'gcsSink: {{format: JSON, uri: "{output}"}}'
    missing = _spec(data, "missing", "input", sink, f'report: {{reference: "{tmp_path}/no.json"}}')
    with pytest.raises(UserError, match=r"^report.reference: '.*no.json' does not exist"):
        run_job(spark, parse_spec_text(missing.read_text()), "errors", "e1")
    (tmp_path / "bad.json").write_text('{"rows": 1}')
    bad = _spec(data, "bad", "input", sink, f'report: {{reference: "{tmp_path}/bad.json"}}')
    with pytest.raises(UserError, match=r"report.reference: .* is not a report.json"):
        run_job(spark, parse_spec_text(bad.read_text()), "errors", "e2")
    inside = _spec(data, "inside", "input", sink, f'report: {{path: "{data["input"]}/r"}}')
    with pytest.raises(UserError, match=r"^report.path: '.*/r' lies inside the input of gcsSource"):
        run_job(spark, parse_spec_text(inside.read_text()), "errors", "e3")
    assert not output.exists() and not (data["input"] / "r").exists()


def test_a_retried_task_is_counted_once(spark, data, tmp_path) -> None:
    """Every task fails once, after its statistics went into the accumulators: Spark merges
    only the successful attempts' updates (``rows`` shows it for mapInArrow). A partition
    computed twice adds to ``rows`` twice, to the report once."""
    collector = ReportCollector.create(spark, ["x"], ["x"])
    rows = spark.sparkContext.accumulator(0)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        for batch in collector.observe(batches, lambda scored: scored):
            rows.add(batch.num_rows)
            yield batch
        if TaskContext.get().attemptNumber() == 0:
            raise RuntimeError("failing once, after the report's update")

    frame = spark.read.parquet(str(data["input"])).select("x")
    assert frame.rdd.getNumPartitions() >= 2
    computed = frame.mapInArrow(task, frame.schema)
    assert computed.count() == ROWS
    assert rows.value == ROWS  # the failed attempts' updates were dropped
    assert computed.count() == ROWS  # the same partitions once more
    assert rows.value == 2 * ROWS
    counted = collector.value.features["x"].to_json()
    assert counted["count"] + counted["nulls"] == ROWS
    assert counted["count"] == data["frame"]["x"].count()

    model = save_probe_model(tmp_path / "model", "fail_attempts", value=1)
    text = f"""
gcsSource: {{format: PARQUET, uri: "{data["input"]}", features: [x, n], passthrough: [id]}}
model: {{uri: "{model}"}}
gcsSink: {{format: AVRO, uri: "{tmp_path / "out"}"}}
"""
    result = run_job(spark, parse_spec_text(text), "retried", "r1")
    report = json.loads((tmp_path / "out" / "_report.json").read_text())
    assert result.rows_predicted == ROWS
    assert report["features"]["n"]["count"] == ROWS
    assert report["prediction"]["prediction"]["count"] == ROWS
