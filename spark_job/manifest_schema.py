"""The fields of spark-operator's ``SparkApplication`` (sparkoperator.k8s.io/v1beta2) that the
generated manifest uses, with their types (from the operator's Go API types), and a checker.

A field missing here is an error: the checker is strict on purpose, so a typo in the generator
cannot produce a manifest the operator would silently ignore.
"""

from __future__ import annotations

from typing import Any

STRING, INT, BOOL = str, int, bool
STRINGS = [str]
STRING_MAP = {str: str}

_ENV_VAR = {"name": STRING, "value": STRING}
_SECRET = {"name": STRING, "path": STRING, "secretType": ("GCPServiceAccount", "HadoopDelegationToken", "Generic")}  # fmt: skip # noqa: E501
_VOLUME_MOUNT = {"name": STRING, "mountPath": STRING, "readOnly": BOOL}
_POD = {
    "cores": INT,
    "coreRequest": STRING,
    "coreLimit": STRING,
    "memory": STRING,
    "memoryOverhead": STRING,
    "labels": STRING_MAP,
    "annotations": STRING_MAP,
    "env": [_ENV_VAR],
    "secrets": [_SECRET],
    "serviceAccount": STRING,
    "volumeMounts": [_VOLUME_MOUNT],
}
SPARK_APPLICATION_SPEC = {
    "type": ("Java", "Python", "Scala", "R"),
    "pythonVersion": ("2", "3"),
    "mode": ("cluster", "client", "in-cluster-client"),
    "image": STRING,
    "imagePullPolicy": ("Always", "IfNotPresent", "Never"),
    "mainApplicationFile": STRING,
    "arguments": STRINGS,
    "sparkVersion": STRING,
    "sparkConf": STRING_MAP,
    "timeToLiveSeconds": INT,
    "restartPolicy": {
        "type": ("Never", "Always", "OnFailure"),
        "onSubmissionFailureRetries": INT,
        "onFailureRetries": INT,
        "onSubmissionFailureRetryInterval": INT,
        "onFailureRetryInterval": INT,
    },
    "volumes": [{"name": STRING, "configMap": {"name": STRING}}],
    "driver": _POD,
    "executor": {**_POD, "instances": INT},
    "dynamicAllocation": {
        "enabled": BOOL,
        "initialExecutors": INT,
        "minExecutors": INT,
        "maxExecutors": INT,
        "shuffleTrackingEnabled": BOOL,
    },
    "monitoring": {
        "exposeDriverMetrics": BOOL,
        "exposeExecutorMetrics": BOOL,
        "metricsPropertiesFile": STRING,
    },
}
SPARK_APPLICATION = {
    "apiVersion": ("sparkoperator.k8s.io/v1beta2",),
    "kind": ("SparkApplication",),
    "metadata": {"name": STRING, "namespace": STRING, "labels": STRING_MAP},
    "spec": SPARK_APPLICATION_SPEC,
}
REQUIRED = ("spec.type", "spec.mode", "spec.mainApplicationFile", "spec.sparkVersion",
            "spec.driver", "spec.executor", "metadata.name")  # fmt: skip


def check(value: Any, schema: Any, path: str = "") -> list[str]:
    """Problems of ``value`` against ``schema``, one line each (empty: it conforms)."""
    if isinstance(schema, dict) and len(schema) == 1 and next(iter(schema)) is str:
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [
            f"{path}.{k}: expected a string" for k, v in value.items() if not isinstance(v, str)
        ]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        problems = []
        for key, item in value.items():
            if key not in schema:
                problems.append(f"{path}.{key}: not a field of SparkApplication v1beta2")
            else:
                problems.extend(check(item, schema[key], f"{path}.{key}"))
        return problems
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(value) for p in check(item, schema[0], f"{path}[{i}]")]
    if isinstance(schema, tuple):
        return [] if value in schema else [f"{path}: '{value}' is not one of {', '.join(schema)}"]
    if schema is INT and isinstance(value, bool):
        return [f"{path}: expected an integer"]
    return [] if isinstance(value, schema) else [f"{path}: expected {schema.__name__}"]


def check_spark_application(document: dict[str, Any]) -> list[str]:
    problems = check(document, SPARK_APPLICATION)
    for dotted in REQUIRED:
        node: Any = document
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            problems.append(f".{dotted}: required")
    return problems
