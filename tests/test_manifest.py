"""The spark-operator SparkApplication generator (``python -m spark_job manifest``).

No Spark and no Kubernetes here: the generated documents are checked field by field and
against the SparkApplication v1beta2 schema transcribed from the operator's CRD
(spark_job/deploy/manifest_schema.py).
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from spark_job.deploy.manifest import (
    IMAGE_SPARK_CONF,
    MAIN_FILE,
    SPARK_VERSION,
    application_name,
    build_manifest,
    label_value,
)
from spark_job.deploy.manifest_schema import check_spark_application
from spark_job.errors import UserError
from spark_job.main import main
from spark_job.run.run_id import resolve_run_id
from spark_job.spec import parse_spec_text
from spark_job.spec.quantity import cpu_cores, memory_bytes, spark_cores, spark_memory
from tests.conftest import REPO_ROOT

SPEC = """\
# nightly scoring of the iris table
name: nightly-scoring
gcsSource: {format: PARQUET, uri: gs://bucket/in/*}
model: {uri: gs://bucket/model}
gcsSink: {format: JSON, uri: gs://bucket/out}
"""


def _documents(extra: str = "", **options: Any) -> list[dict[str, Any]]:
    text = SPEC + extra
    return build_manifest(parse_spec_text(text), text, "nightly_scoring", "img:1", **options)


def _application(extra: str = "", **options: Any) -> dict[str, Any]:
    return _documents(extra, **options)[1]


def test_defaults_follow_the_seed() -> None:
    config_map, app = _documents()
    spec = app["spec"]
    driver, executor = spec["driver"], spec["executor"]
    assert (driver["cores"], driver["coreRequest"], driver["memory"]) == (2, "2", "2048m")
    assert (executor["cores"], executor["coreRequest"], executor["memory"]) == (2, "2", "2048m")
    assert executor["instances"] == 3
    assert "dynamicAllocation" not in spec
    assert (spec["type"], spec["mode"]) == ("Python", "cluster")
    assert spec["sparkVersion"] == SPARK_VERSION
    assert spec["mainApplicationFile"] == MAIN_FILE == "local:///opt/spark_job/spark_job/main.py"
    assert spec["restartPolicy"] == {
        "type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 10,
        "onSubmissionFailureRetries": 3, "onSubmissionFailureRetryInterval": 10,
    }  # fmt: skip
    assert check_spark_application(app) == []
    assert re.fullmatch(r"nightly-scoring-[0-9a-f]{8}", app["metadata"]["name"])


def test_an_image_of_the_3_5_line_gets_its_spark_version(tmp_path: Path) -> None:
    assert _application(spark_line="3.5")["spec"]["sparkVersion"] == "3.5.9"
    spec_path = tmp_path / "job.yaml"
    spec_path.write_text(SPEC)
    out = tmp_path / "app.yaml"
    argv = ["manifest", "--spec-path", str(spec_path), "--image", "img:1", "--output", str(out)]
    assert main([*argv, "--spark-line", "3.5"]) == 0
    app = list(yaml.safe_load_all(out.read_text()))[1]
    assert app["spec"]["sparkVersion"] == "3.5.9"


def test_the_spec_travels_in_a_config_map_mounted_on_the_driver() -> None:
    config_map, app = _documents()
    name = app["metadata"]["name"]
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == f"{name}-spec"
    assert config_map["data"] == {"job.yaml": SPEC}
    mount = {"name": f"{name}-spec", "path": "/etc/spark_job"}
    assert app["spec"]["driver"]["configMaps"] == [mount]
    assert app["spec"]["arguments"] == [
        "--job-name", "nightly_scoring", "--spec-path", "/etc/spark_job/job.yaml",
    ]  # fmt: skip
    assert config_map["metadata"]["labels"] == app["metadata"]["labels"]
    assert app["metadata"]["labels"]["app.kubernetes.io/instance"] == name


def test_service_account_secret_and_credentials() -> None:
    spec = _application()["spec"]
    secret = {"name": "gcp-service-account", "path": "/mnt/secrets/gcp"}
    secret["secretType"] = "GCPServiceAccount"
    assert spec["driver"]["secrets"] == spec["executor"]["secrets"] == [secret]
    conf = spec["sparkConf"]
    key = "/mnt/secrets/gcp/key.json"  # spark-operator's file name for a GCPServiceAccount key
    assert conf["spark.kubernetes.driverEnv.GOOGLE_APPLICATION_CREDENTIALS"] == key
    assert conf["spark.executorEnv.GOOGLE_APPLICATION_CREDENTIALS"] == key
    assert spec["driver"]["serviceAccount"] == "spark"

    without = _application(secret=None, service_account="jobs")["spec"]
    assert "secrets" not in without["driver"] and "secrets" not in without["executor"]
    assert not any("GOOGLE_APPLICATION_CREDENTIALS" in key for key in without["sparkConf"])
    assert without["driver"]["serviceAccount"] == "jobs"


def test_run_id_is_the_application_name() -> None:
    """Stable across driver restarts (same SparkApplication), new for each generated manifest."""
    app = _application()
    name = app["metadata"]["name"]
    run_id = app["spec"]["sparkConf"]["spark.kubernetes.driverEnv.SPARK_JOB_RUN_ID"]
    assert run_id == name
    # what the driver makes of it (spark_job/run/run_id.py): a valid run id, taken as it is
    assert resolve_run_id(None, {"SPARK_JOB_RUN_ID": run_id}, conf=lambda key: None) == name
    assert _application()["metadata"]["name"] != name
    assert _application(app_name="nightly-2026-11-22")["metadata"]["name"] == "nightly-2026-11-22"


def test_custom_resources_and_max_workers() -> None:
    app = _application(
        "resources:\n  driver_cpu_request: 500m\n  driver_memory_request: 512Mi\n"
        "  executorCpuRequest: 1500m\n  executor_memory_request: 2G\n"
        "  executor_replica: 4\n  maxWorkerCount: 10\n"
    )
    driver, executor = app["spec"]["driver"], app["spec"]["executor"]
    assert (driver["cores"], driver["coreRequest"], driver["memory"]) == (1, "500m", "512m")
    assert (executor["cores"], executor["coreRequest"], executor["memory"]) == (2, "1500m", "1908m")
    assert executor["instances"] == 4
    assert app["spec"]["dynamicAllocation"] == {
        "enabled": True, "initialExecutors": 4, "minExecutors": 1, "maxExecutors": 10,
        "shuffleTrackingEnabled": True,
    }  # fmt: skip
    assert check_spark_application(app) == []


def test_yaml_numbers_are_quantities_too() -> None:
    """``executor_cpu_request: 1`` or ``0.5`` in YAML are numbers, not strings."""
    spec = _application("resources: {executor_cpu_request: 0.5, driver_cpu_request: 3}\n")["spec"]
    assert (spec["executor"]["cores"], spec["executor"]["coreRequest"]) == (1, "0.5")
    assert (spec["driver"]["cores"], spec["driver"]["coreRequest"]) == (3, "3")


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [("1", 1), ("2", 2), ("1500m", 2), ("500m", 1), ("1000m", 1), ("2.5", 3), ("0.1", 1)],
)
def test_cpu_to_spark_cores(quantity: str, cores: int) -> None:
    assert spark_cores(quantity, "f") == cores


@pytest.mark.parametrize(
    ("quantity", "memory"),
    [("512Mi", "512m"), ("1Gi", "1024m"), ("2Gi", "2048m"), ("1.5Gi", "1536m"),
     ("2G", "1908m"), ("1000M", "954m"), ("1048576", "1m"), ("4096Ki", "4m")],
)  # fmt: skip
def test_memory_to_spark_memory(quantity: str, memory: str) -> None:
    assert spark_memory(quantity, "f") == memory


def test_quantity_values() -> None:
    assert cpu_cores("1500m", "f") == pytest.approx(1.5) and cpu_cores("0.25", "f") == 0.25
    assert memory_bytes("1Gi", "f") == 2**30 and memory_bytes("2G", "f") == 2 * 10**9


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{driver_cpu_request: two}", "resources.driver_cpu_request: 'two' is not a CPU quantity"),
        ("{driver_cpu_request: 2 cores}", "resources.driver_cpu_request: '2 cores' is not"),
        ("{executor_cpu_request: 0m}", "resources.executor_cpu_request: CPU must be more than 0"),
        ("{executor_cpu_request: -1}", "resources.executor_cpu_request: '-1' is not"),
        ("{executor_memory_request: 2GB}", "resources.executor_memory_request: '2GB' is not a"),
        ("{executorMemoryRequest: 2GB}", "resources.executorMemoryRequest: '2GB' is not a"),
        ("{driver_memory_request: lots}", "resources.driver_memory_request: 'lots' is not a"),
        ("{driver_memory_request: 512K}", "resources.driver_memory_request: '512K' is not a"),
        ("{driver_memory_request: 100k}", "resources.driver_memory_request: memory must be at"),
        ("{executor_replica: 0}", "resources.executor_replica: must be at least 1"),
        ("{executor_replica: 5, maxWorkerCount: 2}", "resources.maxWorkerCount: 2 is less than"),
    ],
)
def test_bad_resources_name_the_field(resources: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        _application(f"resources: {resources}\n")


@pytest.mark.parametrize(
    ("job_name", "expected"),
    [
        ("nightly_scoring", r"nightly-scoring-[0-9a-f]{8}"),
        ("Iris__Batch_", r"iris-batch-[0-9a-f]{8}"),
        ("x" * 128, r"x{54}-[0-9a-f]{8}"),
        ("9lives", r"job-9lives-[0-9a-f]{8}"),
    ],
)
def test_application_names_are_dns_labels(job_name: str, expected: str) -> None:
    name = application_name(job_name)
    assert re.fullmatch(expected, name) and len(name) <= 63


def test_label_values() -> None:
    assert label_value("nightly_scoring") == "nightly_scoring"
    assert label_value("scoring_") == "scoring"
    assert label_value("a" * 62 + "_b") == "a" * 62  # cut at 63, then no trailing '_'


def test_bad_application_name_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"--app-name: 'Nightly_1'"):
        _application(app_name="Nightly_1")


def test_schema_checker_rejects_what_the_operator_would_not_take() -> None:
    app = _application()
    assert check_spark_application(app) == []
    cases = {
        "driver.corez": ".spec.driver.corez: not a field of SparkApplication v1beta2",
        "restartPolicy.type": ".spec.restartPolicy.type: 'Sometimes' is not one of",
        "mode": ".spec.mode: 'in-cluster-client' is not one of cluster, client",
        "executor.instances": ".spec.executor.instances: 0 is out of range",
        "driver.cores": ".spec.driver.cores: expected integer, got bool",
        "restartPolicy.onFailureRetryInterval": ".onFailureRetryInterval: 0 is out of range",
        "sparkConf.spark.master": ".spec.sparkConf.spark.master: managed by spark-operator",
        "metadata.name": ".metadata.name: 'Nightly' is not a DNS-1035 label",
        "labels": ".metadata.labels.team: 'ml-' is not a valid label value",
        "sparkVersion": ".spec.sparkVersion: required",
        "executor.secrets": ".spec.executor.secrets[0].secretType: required",
    }
    edits = {
        "driver.corez": lambda a: a["spec"]["driver"].update(corez=2),
        "restartPolicy.type": lambda a: a["spec"]["restartPolicy"].update(type="Sometimes"),
        "mode": lambda a: a["spec"].update(mode="in-cluster-client"),
        "executor.instances": lambda a: a["spec"]["executor"].update(instances=0),
        "driver.cores": lambda a: a["spec"]["driver"].update(cores=True),
        "restartPolicy.onFailureRetryInterval": lambda a: a["spec"]["restartPolicy"].update(
            onFailureRetryInterval=0
        ),
        "sparkConf.spark.master": lambda a: a["spec"]["sparkConf"].update({"spark.master": "x"}),
        "metadata.name": lambda a: a["metadata"].update(name="Nightly"),
        "labels": lambda a: a["metadata"]["labels"].update(team="ml-"),
        "sparkVersion": lambda a: a["spec"].pop("sparkVersion"),
        "executor.secrets": lambda a: a["spec"]["executor"]["secrets"][0].pop("secretType"),
    }
    for case, expected in cases.items():
        broken = copy.deepcopy(app)
        edits[case](broken)
        problems = check_spark_application(broken)
        assert any(expected in problem for problem in problems), (case, problems)


def test_spark_conf_repeats_the_image_spark_defaults() -> None:
    """Kubernetes pods don't read the image's spark-defaults.conf: the manifest carries it."""
    defaults = {}
    for line in (REPO_ROOT / "conf" / "spark-defaults.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split(None, 1)
            defaults[key] = value.strip()
    assert defaults == IMAGE_SPARK_CONF
    conf = _application()["spec"]["sparkConf"]
    assert {key: conf[key] for key in defaults} == defaults
    assert _application()["spec"]["driver"]["javaOptions"] == (
        "-Dlog4j2.configurationFile=/opt/spark_job/conf/log4j2.properties"
    )


def test_cli_writes_the_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC)
    output = tmp_path / "app.yaml"
    argv = ["manifest", "--spec-path", str(spec), "--image", "registry/spark-job:1.0",
            "--namespace", "ml", "--status-path", "gs://bucket/status/nightly.json",
            "--retries", "5", "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    config_map, app = yaml.safe_load_all(output.read_text())
    assert config_map["metadata"]["namespace"] == app["metadata"]["namespace"] == "ml"
    assert config_map["data"]["job.yaml"] == SPEC  # the spec as written, comments included
    assert parse_spec_text(config_map["data"]["job.yaml"]).name == "nightly-scoring"
    assert app["spec"]["image"] == "registry/spark-job:1.0"
    assert app["spec"]["arguments"][-2:] == ["--status-path", "gs://bucket/status/nightly.json"]
    assert app["spec"]["arguments"][1] == "nightly_scoring"  # the spec's name, as a job name
    assert app["spec"]["restartPolicy"]["onFailureRetries"] == 5
    assert check_spark_application(app) == []

    assert main([*argv[:5], "--service-account-secret", "", "--job-name", "other_job"]) == 0
    app = list(yaml.safe_load_all(capsys.readouterr().out))[1]
    assert "secrets" not in app["spec"]["driver"]
    assert app["spec"]["arguments"][1] == "other_job"


@pytest.mark.parametrize(
    ("spec_text", "extra", "message"),
    [
        (SPEC + "resources: {executor_memory_request: 1 gig}\n", [],
         "resources.executor_memory_request: '1 gig' is not a memory quantity"),
        (SPEC.replace("name: nightly-scoring\n", ""), [], "--job-name: required when the spec"),
        (SPEC, ["--job-name", "9lives"], "--job-name: '9lives' must start with a letter"),
        (SPEC, ["--app-name", "UPPER"], "--app-name: 'UPPER' is not a valid"),
        (SPEC, ["--retries", "-1"], "--retries: must be 0 or more"),
    ],
)  # fmt: skip
def test_cli_user_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec_text: str, extra: list[str],
    message: str,
) -> None:  # fmt: skip
    spec = tmp_path / "job.yaml"
    spec.write_text(spec_text)
    output = tmp_path / "app.yaml"
    argv = ["manifest", "--spec-path", str(spec), "--image", "i", "--output", str(output), *extra]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert not output.exists()


def test_cli_as_a_process(tmp_path: Path) -> None:
    """The real command line: YAML on stdout, exit 2 and one line naming the field on error."""
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC)
    command = [sys.executable, "-m", "spark_job", "manifest", "--spec-path", str(spec),
               "--image", "i"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    kinds = [document["kind"] for document in yaml.safe_load_all(proc.stdout)]
    assert kinds == ["ConfigMap", "SparkApplication"]

    spec.write_text(SPEC + "resources: {driver_cpu_request: 2x}\n")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: resources.driver_cpu_request: '2x' is not a CPU")
    assert "Traceback" not in proc.stderr
