"""The part of spark-operator's ``SparkApplication`` schema (sparkoperator.k8s.io/v1beta2) that
the generated manifest uses, and a checker for it.

The schema below is transcribed from the operator's CRD, in the CRD's own OpenAPI v3 form
(kubeflow/spark-operator ``config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml``, built
from ``api/v1beta2/sparkapplication_types.go``; operator v2.5): the same field names, types,
enums, minimums and required fields. Two rules are stricter than the API server's:

- an object's fields are closed: the API server silently prunes a field it does not know, so a
  typo in the generator would produce a manifest that quietly does less; here it is an error;
- ``secretType`` takes the values the operator's Go type defines (the CRD says only "string").

It also applies what the operator's admission webhook checks (``metadata.name`` must be a DNS-1035
label; ``sparkConf`` must not set what the operator manages) and Kubernetes' rules for label
values.
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INT32: Schema = {"type": "integer", "format": "int32"}
INT64: Schema = {"type": "integer", "format": "int64"}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _pod(**extra: Schema) -> Schema:
    """``SparkPodSpec`` plus the driver's or the executor's own fields."""
    return _object(
        {
            "cores": {**INT32, "minimum": 1},
            "coreRequest": STRING,
            "coreLimit": STRING,
            "memory": STRING,
            "memoryOverhead": STRING,
            "javaOptions": STRING,
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
            "serviceAccount": STRING,
            "configMaps": _array(_object({"name": STRING, "path": STRING}, ("name", "path"))),
            "secrets": _array(
                _object(
                    {
                        "name": STRING,
                        "path": STRING,
                        "secretType": {
                            **STRING,
                            "enum": ["GCPServiceAccount", "HadoopDelegationToken", "Generic"],
                        },
                    },
                    ("name", "path", "secretType"),
                )
            ),
            **extra,
        }
    )


SPARK_APPLICATION: Schema = _object(
    {
        "apiVersion": {**STRING, "enum": ["sparkoperator.k8s.io/v1beta2"]},
        "kind": {**STRING, "enum": ["SparkApplication"]},
        "metadata": _object(
            {"name": STRING, "namespace": STRING, "labels": STRING_MAP, "annotations": STRING_MAP},
            ("name",),
        ),
        "spec": _object(
            {
                "type": {**STRING, "enum": ["Java", "Python", "Scala", "R"]},
                "sparkVersion": STRING,
                "mode": {**STRING, "enum": ["cluster", "client"]},
                "image": STRING,
                "imagePullPolicy": STRING,
                "mainApplicationFile": STRING,
                "arguments": _array(STRING),
                "sparkConf": STRING_MAP,
                "pythonVersion": {**STRING, "enum": ["2", "3"]},
                "timeToLiveSeconds": INT64,
                "restartPolicy": _object(
                    {
                        "type": {**STRING, "enum": ["Never", "Always", "OnFailure"]},
                        "onSubmissionFailureRetries": {**INT32, "minimum": 0},
                        "onFailureRetries": {**INT32, "minimum": 0},
                        "onSubmissionFailureRetryInterval": {**INT64, "minimum": 1},
                        "onFailureRetryInterval": {**INT64, "minimum": 1},
                    }
                ),
                "driver": _pod(),
                "executor": _pod(instances={**INT32, "minimum": 1}),
                "dynamicAllocation": _object(
                    {
                        "enabled": BOOLEAN,
                        "initialExecutors": INT32,
                        "minExecutors": INT32,
                        "maxExecutors": INT32,
                        "shuffleTrackingEnabled": BOOLEAN,
                        "shuffleTrackingTimeout": INT64,
                    }
                ),
            },
            ("driver", "executor", "mainApplicationFile", "sparkVersion", "type"),
        ),
    },
    ("metadata", "spec"),
)

#: sparkConf keys the operator's webhook refuses (it manages them itself).
DENIED_SPARK_CONF = frozenset(
    {
        "spark.master",
        "spark.kubernetes.driver.master",
        "spark.kubernetes.container.image",
        "spark.kubernetes.driver.container.image",
        "spark.kubernetes.executor.container.image",
        "spark.kubernetes.authenticate.driver.serviceAccountName",
        "spark.kubernetes.authenticate.executor.serviceAccountName",
        "spark.kubernetes.authenticate.oauthTokenFile",
        "spark.kubernetes.authenticate.oauthToken",
        "spark.kubernetes.authenticate.driver.oauthTokenFile",
        "spark.kubernetes.authenticate.driver.oauthToken",
        "spark.kubernetes.authenticate.executor.oauthTokenFile",
        "spark.kubernetes.authenticate.executor.oauthToken",
    }
)

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
}  # fmt: skip
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")


def check(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Problems of ``value`` against ``schema``, one line each (empty: it conforms)."""
    kind = schema["type"]
    if not isinstance(value, _TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        return [f"{path or '.'}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {', '.join(map(str, schema['enum']))}"]
    if kind == "integer":
        low, high = _INT_RANGES[schema["format"]]
        low = max(low, schema.get("minimum", low))
        return [] if low <= value <= high else [f"{path}: {value} is out of range [{low}, {high}]"]
    if kind == "array":
        items = schema["items"]
        return [p for i, item in enumerate(value) for p in check(item, items, f"{path}[{i}]")]
    if kind != "object":
        return []
    required = schema.get("required", ())
    problems = [f"{path}.{name}: required" for name in required if name not in value]
    for key, item in value.items():
        if "properties" in schema:
            if key not in schema["properties"]:
                problems.append(f"{path}.{key}: not a field of SparkApplication v1beta2")
                continue
            problems.extend(check(item, schema["properties"][key], f"{path}.{key}"))
        else:
            problems.extend(check(item, schema["additionalProperties"], f"{path}.{key}"))
    return problems


def _label_problems(labels: dict[str, Any], path: str) -> list[str]:
    return [
        f"{path}.{key}: {value!r} is not a valid label value (at most 63 letters, digits, '-',"
        " '_' or '.', beginning and ending with a letter or digit)"
        for key, value in labels.items()
        if isinstance(value, str) and not LABEL_VALUE.fullmatch(value)
    ]


def check_spark_application(document: dict[str, Any]) -> list[str]:
    """Problems of a SparkApplication document: schema, admission rules and label values."""
    problems = check(document, SPARK_APPLICATION)
    if problems:
        return problems
    name = document["metadata"]["name"]
    if not DNS_1035_LABEL.fullmatch(name):
        problems.append(
            f".metadata.name: {name!r} is not a DNS-1035 label (at most 63 lowercase letters,"
            " digits and '-', beginning with a letter and ending with a letter or digit)"
        )
    spec = document["spec"]
    problems += [
        f".spec.sparkConf.{key}: managed by spark-operator, not allowed in sparkConf"
        for key in spec.get("sparkConf", {})
        if key in DENIED_SPARK_CONF
    ]
    problems += _label_problems(document["metadata"].get("labels", {}), ".metadata.labels")
    for role in ("driver", "executor"):
        problems += _label_problems(spec[role].get("labels", {}), f".spec.{role}.labels")
    return problems
