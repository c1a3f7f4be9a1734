"""``python -m spark_job manifest``: a spark-operator SparkApplication for a job spec.

Prints (or writes) two YAML documents: a ConfigMap holding the spec, and a SparkApplication
(sparkoperator.k8s.io/v1beta2) that mounts it, mounts a GCP service-account secret, restarts a
failed driver (``restartPolicy: OnFailure``), and maps the spec's ``resources`` to driver and
executor cores, core requests, memory and instances (``maxWorkerCount`` → dynamic allocation).

The driver gets ``SPARK_JOB_RUN_ID`` = the application's name, which carries a random suffix
drawn here: unique per submission, the same for every restart of its driver (the BigQuery sink's
load job id derives from it, so a restarted driver never loads twice).
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from spark_job.errors import UserError
from spark_job.manifest_schema import check_spark_application
from spark_job.quantity import cpu_cores, spark_cores, spark_memory
from spark_job.spec import JobSpec, Resources, parse_spec_text

SPEC_MOUNT = "/etc/spark_job"
SPEC_FILE = "job.yaml"
SECRET_MOUNT = "/mnt/secrets/gcp"
MAIN_FILE = "local:///opt/spark_job/spark_job/main.py"
SPARK_VERSION = "4.0.1"


def application_name(job_name: str, suffix: str | None = None) -> str:
    """A DNS-1123 name for the SparkApplication: the job name plus a unique suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", job_name.lower()).strip("-")[:48] or "spark-job"
    return f"{base}-{suffix or uuid.uuid4().hex[:8]}"


def _pod(cpu: str, memory: str, cpu_field: str, memory_field: str) -> dict[str, Any]:
    cpu_cores(cpu, cpu_field)
    return {
        "cores": spark_cores(cpu, cpu_field),
        "coreRequest": str(cpu),
        "memory": spark_memory(memory, memory_field),
    }


def _pods(resources: Resources, secret: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = "resources.{}_cpu_request", "resources.{}_memory_request"
    driver = _pod(resources.driver_cpu_request, resources.driver_memory_request,
                  *(f.format("driver") for f in fields))  # fmt: skip
    executor = _pod(resources.executor_cpu_request, resources.executor_memory_request,
                    *(f.format("executor") for f in fields))  # fmt: skip
    executor["instances"] = resources.executor_replica
    for pod in (driver, executor):
        pod["volumeMounts"] = [{"name": "job-spec", "mountPath": SPEC_MOUNT, "readOnly": True}]
        if secret:
            pod["secrets"] = [
                {"name": secret, "path": SECRET_MOUNT, "secretType": "GCPServiceAccount"}
            ]
            pod["env"] = [{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{SECRET_MOUNT}/key.json"}]  # fmt: skip # noqa: E501
    return driver, executor


def build_manifest(
    spec: JobSpec,
    spec_text: str,
    job_name: str,
    image: str,
    namespace: str = "default",
    service_account: str = "spark",
    secret: str | None = "gcp-service-account",
    app_name: str | None = None,
    restarts: int = 3,
) -> list[dict[str, Any]]:
    """The ConfigMap and the SparkApplication, as Python objects."""
    name = app_name or application_name(job_name)
    labels = {"app.kubernetes.io/name": "spark-job", "spark-job/job-name": job_name[:63]}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-spec", "namespace": namespace, "labels": labels},
        "data": {SPEC_FILE: spec_text},
    }
    driver, executor = _pods(spec.resources, secret)
    driver["serviceAccount"] = service_account
    driver["labels"] = dict(labels)
    driver.setdefault("env", []).append({"name": "SPARK_JOB_RUN_ID", "value": name})
    application: dict[str, Any] = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": MAIN_FILE,
            "arguments": ["--job-name", job_name, "--spec-path", f"{SPEC_MOUNT}/{SPEC_FILE}"],
            "sparkVersion": SPARK_VERSION,
            "restartPolicy": {
                "type": "OnFailure",
                "onFailureRetries": restarts,
                "onFailureRetryInterval": 10,
                "onSubmissionFailureRetries": 5,
                "onSubmissionFailureRetryInterval": 20,
            },
            "volumes": [{"name": "job-spec", "configMap": {"name": f"{name}-spec"}}],
            "driver": driver,
            "executor": executor,
            "monitoring": {
                "exposeDriverMetrics": True,
                "exposeExecutorMetrics": True,
                "metricsPropertiesFile": "/opt/spark/conf/metrics.properties",
            },
        },
    }
    maximum = spec.resources.max_worker_count
    if maximum is not None:
        if maximum < spec.resources.executor_replica:
            raise UserError(
                f"resources.maxWorkerCount: {maximum} is less than"
                f" resources.executor_replica ({spec.resources.executor_replica})."
            )
        application["spec"]["dynamicAllocation"] = {
            "enabled": True,
            "initialExecutors": spec.resources.executor_replica,
            "minExecutors": 1,
            "maxExecutors": maximum,
            "shuffleTrackingEnabled": True,
        }
    problems = check_spark_application(application)
    if problems:  # a bug in this generator, not the user's
        raise RuntimeError("generated SparkApplication is invalid: " + "; ".join(problems))
    return [config_map, application]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark_job manifest", description="Print a spark-operator SparkApplication."
    )
    parser.add_argument("--spec-path", required=True)
    parser.add_argument("--image", required=True, help="the job image (built from docker/)")
    parser.add_argument("--job-name", help="default: the spec's name")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--service-account", default="spark")
    parser.add_argument("--service-account-secret", default="gcp-service-account",
                        help="secret with the GCP key (key.json); '' for none")  # fmt: skip
    parser.add_argument("--app-name", help="SparkApplication name (default: job name + suffix)")
    parser.add_argument("--output", help="write here instead of standard output")
    return parser


def main(argv: list[str]) -> int:
    from spark_job.job_name import validate_job_name

    args = _parser().parse_args(argv)
    try:
        spec_text = Path(args.spec_path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"--spec-path: cannot read {args.spec_path}: {error.strerror}") from None
    spec = parse_spec_text(spec_text, args.spec_path)
    job_name = validate_job_name(args.job_name or re.sub(r"[^A-Za-z0-9_]", "_", spec.name))
    documents = build_manifest(
        spec, spec_text, job_name, args.image, args.namespace, args.service_account,
        args.service_account_secret or None, args.app_name,
    )  # fmt: skip
    text = yaml.safe_dump_all(documents, sort_keys=False)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
