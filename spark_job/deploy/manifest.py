"""``python -m spark_job manifest``: a spark-operator SparkApplication for a job spec.

Prints (or writes) two YAML documents: a ConfigMap holding the spec, and a SparkApplication
(sparkoperator.k8s.io/v1beta2) that runs the image built from ``docker/`` with
``--job-name NAME --spec-path /etc/spark_job/job.yaml``. It mounts the ConfigMap on the driver,
mounts a GCP service-account secret on the driver and executors, restarts a failed driver
(``restartPolicy: OnFailure``), and maps the spec's ``resources`` to driver and executor cores,
core requests, memory and instances (``maxWorkerCount`` → dynamic allocation).

The driver gets ``SPARK_JOB_RUN_ID`` = the SparkApplication's name, which carries a random
suffix drawn here: unique per generated manifest, the same for every restart of its driver (the
BigQuery sink derives its load job's id from it, so a restarted driver never loads twice).

Spark on Kubernetes mounts its own configuration over ``/opt/spark/conf`` in every pod, so the
image's settings (``conf/spark-defaults.conf``) are repeated in ``sparkConf`` here, and the
image's ``log4j2.properties`` is named with ``-Dlog4j2.configurationFile``.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from spark_job.deploy.manifest_schema import DNS_1035_LABEL, check_spark_application
from spark_job.errors import UserError
from spark_job.run.run_id import ENV_VAR as RUN_ID_ENV
from spark_job.spark_lines import DEFAULT_LINE, LINES
from spark_job.spec import JobSpec, parse_spec_text
from spark_job.spec.quantity import spark_cores, spark_memory
from spark_job.spec.secrets import SPARK_REDACTION_REGEX, find_secrets, is_reference

#: The ``sparkVersion`` of the default Spark line (an image built with ``SPARK_LINE=3.5``:
#: ``--spark-line 3.5``).
SPARK_VERSION = LINES[DEFAULT_LINE].pyspark
IMAGE_HOME = "/opt/spark_job"
IMAGE_CONF_DIR = f"{IMAGE_HOME}/conf"
MAIN_FILE = f"local://{IMAGE_HOME}/spark_job/main.py"
SPEC_MOUNT = "/etc/spark_job"
SPEC_FILE = "job.yaml"
SECRET_MOUNT = "/mnt/secrets/gcp"
#: spark-operator's file name for a GCPServiceAccount secret's key.
SECRET_KEY_FILE = "key.json"
CONFIG_MAP_LIMIT = 1024 * 1024

#: conf/spark-defaults.conf, which the image's spark-submit reads but Kubernetes pods do not
#: (a test keeps the two equal).
IMAGE_SPARK_CONF: dict[str, str] = {
    "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
    "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
    "spark.hadoop.fs.gs.auth.type": "APPLICATION_DEFAULT",
    "spark.ui.prometheus.enabled": "true",
    "spark.metrics.conf": f"{IMAGE_CONF_DIR}/metrics.properties",
    "spark.ui.showConsoleProgress": "false",
    "spark.python.daemon.module": "spark_job.scoring.worker_daemon",
    "spark.redaction.regex": SPARK_REDACTION_REGEX,
}
JAVA_OPTIONS = f"-Dlog4j2.configurationFile={IMAGE_CONF_DIR}/log4j2.properties"
#: Where a Prometheus that honours the usual pod annotations scrapes the driver (Spark's
#: PrometheusServlet on the UI port; executors' metrics are at /metrics/executors/prometheus).
PROMETHEUS_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": "4040",
    "prometheus.io/path": "/metrics/prometheus",
}
RETRY_INTERVAL_SECONDS = 10
SUBMISSION_RETRIES = 3


def application_name(job_name: str, suffix: str | None = None) -> str:
    """A DNS-1035 name for the SparkApplication: the job name and a random suffix.

    >>> application_name("Nightly_Scoring", "1a2b3c4d")
    'nightly-scoring-1a2b3c4d'
    """
    suffix = suffix or uuid.uuid4().hex[:8]
    base = re.sub(r"[^a-z0-9]+", "-", job_name.lower()).strip("-")
    if not base[:1].isalpha():
        base = f"job-{base}".rstrip("-")
    return f"{base[: 62 - len(suffix)].rstrip('-')}-{suffix}"


def label_value(text: str) -> str:
    """``text`` cut to a valid Kubernetes label value (63 characters, alphanumeric ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-")


def refuse_secrets(spec_text: str) -> None:
    """UserError when the spec holds a secret (a value of a key named like one, see
    :mod:`spark_job.spec.secrets`): the ConfigMap would store it in plain text. A key that
    names where a secret is (``credentialsFile``) is kept."""
    for path in find_secrets(yaml.safe_load(spec_text)):
        if not is_reference(re.sub(r"(\[\d+\])+$", "", path).rsplit(".", 1)[-1]):
            raise UserError(
                f"{path}: the spec holds a secret, which the manifest would store in plain text"
                " in a ConfigMap. Remove it from the spec; give the job its credentials with"
                " --service-account-secret (a Kubernetes secret mounted as"
                " GOOGLE_APPLICATION_CREDENTIALS)."
            )


def _pod(cpu: str, memory: str, role: str) -> dict[str, Any]:
    return {
        "cores": spark_cores(cpu, f"resources.{role}_cpu_request"),
        "coreRequest": str(cpu),
        "memory": spark_memory(memory, f"resources.{role}_memory_request"),
        "javaOptions": JAVA_OPTIONS,
    }


def build_manifest(
    spec: JobSpec,
    spec_text: str,
    job_name: str,
    image: str,
    *,
    namespace: str = "default",
    service_account: str = "spark",
    secret: str | None = "gcp-service-account",
    app_name: str | None = None,
    retries: int = 3,
    status_path: str | None = None,
    spark_line: str = DEFAULT_LINE,
) -> list[dict[str, Any]]:
    """The ConfigMap and the SparkApplication, as Python objects."""
    name = app_name or application_name(job_name)
    if not DNS_1035_LABEL.fullmatch(name):
        raise UserError(
            f"--app-name: {name!r} is not a valid SparkApplication name; use at most 63"
            " lowercase letters, digits and '-', starting with a letter."
        )
    if len(spec_text.encode("utf-8")) >= CONFIG_MAP_LIMIT:
        raise UserError("--spec-path: the spec is larger than a ConfigMap can hold (1 MiB).")
    if retries < 0:
        raise UserError(f"--retries: must be 0 or more, got {retries}.")
    refuse_secrets(spec_text)
    spec_map = f"{name}-spec"
    labels = {
        "app.kubernetes.io/name": "spark-job",
        "app.kubernetes.io/instance": name,
        "spark-job/job-name": label_value(job_name),
    }
    resources = spec.resources
    driver = _pod(resources.driver_cpu_request, resources.driver_memory_request, "driver")
    executor = _pod(resources.executor_cpu_request, resources.executor_memory_request, "executor")
    driver.update(
        serviceAccount=service_account,
        annotations=dict(PROMETHEUS_ANNOTATIONS),
        configMaps=[{"name": spec_map, "path": SPEC_MOUNT}],
    )
    executor["instances"] = resources.executor_replica
    spark_conf = {**IMAGE_SPARK_CONF, f"spark.kubernetes.driverEnv.{RUN_ID_ENV}": name}
    if secret:
        mounted = {"name": secret, "path": SECRET_MOUNT, "secretType": "GCPServiceAccount"}
        driver["secrets"] = [dict(mounted)]
        executor["secrets"] = [dict(mounted)]
        key = f"{SECRET_MOUNT}/{SECRET_KEY_FILE}"
        spark_conf["spark.kubernetes.driverEnv.GOOGLE_APPLICATION_CREDENTIALS"] = key
        spark_conf["spark.executorEnv.GOOGLE_APPLICATION_CREDENTIALS"] = key
    arguments = ["--job-name", job_name, "--spec-path", f"{SPEC_MOUNT}/{SPEC_FILE}"]
    if status_path:
        arguments += ["--status-path", status_path]
    application: dict[str, Any] = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        # spark-operator copies the application's labels to the driver and executor pods
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "sparkVersion": LINES[spark_line].pyspark,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": MAIN_FILE,
            "arguments": arguments,
            "sparkConf": spark_conf,
            "restartPolicy": {
                "type": "OnFailure",
                "onFailureRetries": retries,
                "onFailureRetryInterval": RETRY_INTERVAL_SECONDS,
                "onSubmissionFailureRetries": SUBMISSION_RETRIES,
                "onSubmissionFailureRetryInterval": RETRY_INTERVAL_SECONDS,
            },
            "driver": driver,
            "executor": executor,
        },
    }
    if resources.max_worker_count is not None:
        application["spec"]["dynamicAllocation"] = {
            "enabled": True,
            "initialExecutors": resources.executor_replica,
            "minExecutors": 1,
            "maxExecutors": resources.max_worker_count,
            "shuffleTrackingEnabled": True,
        }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": spec_map, "namespace": namespace, "labels": dict(labels)},
        "data": {SPEC_FILE: spec_text},
    }
    problems = check_spark_application(application)
    if problems:  # a bug in this generator, not the user's
        raise RuntimeError("generated SparkApplication is invalid: " + "; ".join(problems))
    return [config_map, application]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the spec in the ConfigMap) as readable literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark_job manifest",
        description="Print a ConfigMap with the job spec and a spark-operator SparkApplication.",
    )
    parser.add_argument("--spec-path", required=True, help="the job spec YAML")
    parser.add_argument("--image", required=True, help="the job image (built from docker/)")
    parser.add_argument(
        "--spark-line",
        choices=sorted(LINES),
        default=DEFAULT_LINE,
        help=f"the image's Spark line (its SPARK_LINE build argument; default {DEFAULT_LINE})",
    )
    parser.add_argument("--job-name", help="default: the spec's name")
    parser.add_argument("--namespace", default="default")
    parser.add_argument(
        "--service-account", default="spark", help="Kubernetes service account of the driver"
    )
    parser.add_argument(
        "--service-account-secret",
        default="gcp-service-account",
        help="secret holding the GCP service-account key as key.json; '' for none",
    )
    parser.add_argument("--app-name", help="SparkApplication name (default: job name + suffix)")
    parser.add_argument(
        "--retries", type=int, default=3, help="driver restarts after a failure (default 3)"
    )
    parser.add_argument("--status-path", help="passed to the job: where to write its status")
    parser.add_argument("--output", help="write here instead of standard output")
    return parser


def main(argv: list[str]) -> int:
    from spark_job.spec.job_name import validate_job_name

    args = _parser().parse_args(argv)
    try:
        spec_text = Path(args.spec_path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"--spec-path: cannot read {args.spec_path}: {error.strerror}") from None
    spec = parse_spec_text(spec_text, args.spec_path)
    if not args.job_name and not spec.name:
        raise UserError("--job-name: required when the spec has no name.")
    job_name = validate_job_name(args.job_name or re.sub(r"[^A-Za-z0-9_]", "_", spec.name))
    documents = build_manifest(
        spec,
        spec_text,
        job_name,
        args.image,
        namespace=args.namespace,
        service_account=args.service_account,
        secret=args.service_account_secret or None,
        app_name=args.app_name,
        retries=args.retries,
        status_path=args.status_path,
        spark_line=args.spark_line,
    )
    text = to_yaml(documents)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise UserError(f"--output: cannot write {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0
