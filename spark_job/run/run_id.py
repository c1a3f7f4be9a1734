"""The run id: names one run of a job, and stays the same when its driver is restarted.

spark-operator restarts a failed driver (``restartPolicy: OnFailure``) by submitting the same
SparkApplication again; the BigQuery sink derives its staging prefix and its load job's id from
the run id, so a restarted driver finds the load job of the attempt before it instead of
loading twice. The run id is, in this order:

1. ``--run-id ID``;
2. ``$SPARK_JOB_RUN_ID`` (the manifest ``python -m spark_job manifest`` generates sets it to the
   SparkApplication's name);
3. the SparkApplication's name, when spark-operator submitted the driver: the operator passes it
   to spark-submit as ``--conf spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name=NAME``
   on every (re)submission, so any SparkApplication gets a stable run id, also one written by
   hand or by another platform;
4. otherwise a random id: every run is a new run.

A SparkApplication deleted and created again under the same name counts as the same run; give it
a new name (or ``--run-id``) to run it again.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping

from spark_job.errors import UserError

ENV_VAR = "SPARK_JOB_RUN_ID"
#: The Spark conf key spark-operator sets to the SparkApplication's name.
APP_NAME_CONF = "spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name"
MAX_LENGTH = 200
_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")

ConfLookup = Callable[[str], str | None]


def validate_run_id(value: str, where: str) -> str:
    """``value`` if it can name GCS objects and BigQuery job ids, else a UserError naming
    ``where`` (``--run-id`` or ``$SPARK_JOB_RUN_ID``)."""
    text = value.strip()
    if not text or len(text) > MAX_LENGTH or not _PATTERN.fullmatch(text):
        raise UserError(
            f"{where}: {value!r} is not a run id; use letters, digits, '_', '-' and '.',"
            f" starting with a letter or digit, at most {MAX_LENGTH} characters."
        )
    return text


def submitted_conf(key: str) -> str | None:
    """The Spark conf value spark-submit was given for ``key``, without starting a JVM.

    Only when spark-submit started this Python process (``PYSPARK_GATEWAY_PORT`` is set) does a
    driver JVM with the submitted conf already exist; asking it then costs nothing and changes
    nothing. Run any other way (``--local``), no JVM is started here: the session built later
    must be the one that starts it, with its own conf.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # type: ignore[attr-defined]  # connects, starts nothing
    return SparkConf().get(key, None)


def random_run_id() -> str:
    return uuid.uuid4().hex[:12]


def resolve_run_id(
    flag: str | None,
    environ: Mapping[str, str] | None = None,
    conf: ConfLookup = submitted_conf,
) -> str:
    """The run id from ``--run-id``, ``$SPARK_JOB_RUN_ID``, the SparkApplication, or random.

    >>> resolve_run_id(None, {"SPARK_JOB_RUN_ID": "nightly-7f3a"})
    'nightly-7f3a'
    """
    environ = os.environ if environ is None else environ
    if flag is not None:
        return validate_run_id(flag, "--run-id")
    if environ.get(ENV_VAR):
        return validate_run_id(environ[ENV_VAR], f"${ENV_VAR}")
    application = conf(APP_NAME_CONF)
    if application:
        return validate_run_id(application, f"{APP_NAME_CONF} (the SparkApplication's name)")
    return random_run_id()
