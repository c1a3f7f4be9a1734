"""The SparkApplication generator and the docker/ files (no Spark, no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spark_job.errors import UserError
from spark_job.manifest import build_manifest
from spark_job.manifest_schema import check_spark_application
from spark_job.quantity import cpu_cores, memory_bytes, spark_cores, spark_memory
from spark_job.spec import parse_spec_text
from tests.conftest import REPO_ROOT

SPEC = """\
name: nightly-scoring
gcsSource: {format: PARQUET, uri: gs://bucket/in/*}
model: {uri: gs://bucket/model}
gcsSink: {format: JSON, uri: gs://bucket/out}
"""


def _application(extra: str = "", **kwargs: object) -> dict:
    text = SPEC + extra
    documents = build_manifest(parse_spec_text(text), text, "nightly_scoring", "img:1", **kwargs)
    assert documents[0]["kind"] == "ConfigMap" and documents[0]["data"]["job.yaml"] == text
    return documents[1]


def test_defaults_follow_the_seed() -> None:
    app = _application()
    spec = app["spec"]
    assert spec["driver"]["cores"] == 2 and spec["driver"]["coreRequest"] == "2"
    assert spec["driver"]["memory"] == "2048m"
    assert spec["executor"] == {
        **spec["executor"], "cores": 2, "coreRequest": "2", "memory": "2048m", "instances": 3,
    }  # fmt: skip
    assert "dynamicAllocation" not in spec
    assert spec["restartPolicy"]["type"] == "OnFailure"
    assert spec["restartPolicy"]["onFailureRetries"] == 3
    assert spec["arguments"] == [
        "--job-name",
        "nightly_scoring",
        "--spec-path",
        "/etc/spark_job/job.yaml",
    ]
    assert spec["volumes"][0]["configMap"]["name"] == f"{app['metadata']['name']}-spec"
    secret = spec["driver"]["secrets"][0]
    assert secret["secretType"] == "GCPServiceAccount" and spec["executor"]["secrets"] == [secret]
    env = {e["name"]: e["value"] for e in spec["driver"]["env"]}
    assert env["SPARK_JOB_RUN_ID"] == app["metadata"]["name"]
    assert env["GOOGLE_APPLICATION_CREDENTIALS"].startswith(secret["path"])
    assert re.fullmatch(r"nightly-scoring-[0-9a-f]{8}", app["metadata"]["name"])
    assert check_spark_application(app) == []


def test_custom_resources_and_max_workers() -> None:
    app = _application(
        "resources:\n  driver_cpu_request: 500m\n  driver_memory_request: 512Mi\n"
        "  executor_cpu_request: 1500m\n  executor_memory_request: 1Gi\n"
        "  executor_replica: 4\n  maxWorkerCount: 10\n"
    )
    driver, executor = app["spec"]["driver"], app["spec"]["executor"]
    assert (driver["cores"], driver["coreRequest"], driver["memory"]) == (1, "500m", "512m")
    assert (executor["cores"], executor["coreRequest"], executor["memory"]) == (2, "1500m", "1024m")
    assert executor["instances"] == 4
    assert app["spec"]["dynamicAllocation"] == {
        "enabled": True, "initialExecutors": 4, "minExecutors": 1, "maxExecutors": 10,
        "shuffleTrackingEnabled": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "resources: {driver_cpu_request: two}\n",
            "resources.driver_cpu_request: 'two' is not a CPU",
        ),
        ("resources: {executor_cpu_request: 0m}\n", "resources.executor_cpu_request: CPU must be"),
        ("resources: {executor_memory_request: 2GB}\n", "resources.executor_memory_request: '2GB'"),
        ("resources: {driver_memory_request: lots}\n", "resources.driver_memory_request: 'lots'"),
        ("resources: {executor_replica: 5, maxWorkerCount: 2}\n", "resources.maxWorkerCount: 2 is"),
    ],
)
def test_bad_quantities_name_the_field(extra: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        _application(extra)


def test_quantities() -> None:
    assert cpu_cores("1500m", "f") == pytest.approx(1.5) and spark_cores("1500m", "f") == 2
    assert spark_cores("500m", "f") == 1 and spark_cores("1", "f") == 1
    assert memory_bytes("1Gi", "f") == 2**30 and memory_bytes("2G", "f") == 2 * 10**9
    assert spark_memory("2G", "f") == "1908m" and spark_memory("512Mi", "f") == "512m"


def test_schema_checker_rejects_what_the_operator_would_not_know() -> None:
    app = _application()
    app["spec"]["driver"]["corez"] = 2
    app["spec"]["restartPolicy"]["type"] = "Sometimes"
    problems = check_spark_application(app)
    assert ".spec.driver.corez: not a field of SparkApplication v1beta2" in problems
    assert any("restartPolicy.type: 'Sometimes'" in p for p in problems)


def test_cli_prints_configmap_and_application(tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC)
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "manifest", "--spec-path", str(spec), "--image",
         "registry/spark-job:1.0", "--namespace", "ml"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config_map, app = yaml.safe_load_all(proc.stdout)
    assert config_map["metadata"]["namespace"] == app["metadata"]["namespace"] == "ml"
    assert app["spec"]["image"] == "registry/spark-job:1.0"
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC + "resources: {executor_memory_request: 1 gig}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "manifest", "--spec-path", str(bad), "--image", "i"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and "resources.executor_memory_request" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dockerfile_lints_clean_and_its_paths_exist() -> None:
    dockerfile = REPO_ROOT / "docker" / "Dockerfile"
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    proc = subprocess.run([hadolint, "--failure-threshold", "info", str(dockerfile)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    copied = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            copied.extend(line.split()[1:-1])
    assert "spark_job" in copied and "conf/metrics.properties" in copied
    for path in copied:
        assert (REPO_ROOT / path).exists(), path
    assert (REPO_ROOT / "spark_job" / "main.py").exists()  # the ENTRYPOINT's script
