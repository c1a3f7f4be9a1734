"""Building the SparkSession: local mode for laptops and CI, or whatever spark-submit chose.

In local mode the session also gets the jars that ``make setup`` fetched for the running Spark
line (:mod:`spark_job.spark_lines`: the spark-bigquery connector, the GCS connector,
spark-avro), so that ``engine: auto`` and gs://
paths behave as in the cluster image. Emulators named by the variables Google's clients honour
(``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``; see ``spark_job/dev/emulators.py``) are
handed to the JVM connectors too, in any mode.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyspark.sql import SparkSession

from spark_job.run import jvm_archive
from spark_job.scoring import zygote
from spark_job.scoring.model_libraries import BASE_MODULES
from spark_job.spark_lines import running_line
from spark_job.spec.secrets import SPARK_REDACTION_REGEX

BASE_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.python.worker.reuse": "true",
    "spark.ui.showConsoleProgress": "false",
    # Parquet timestamps without a time zone read as TIMESTAMP (UTC instants), by Spark's
    # reader as by the job's Python reader: one meaning whichever path reads a file.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
    # Spark's UI, event log and plans mask settings and options named like secrets (token,
    # secret, password, key, credential): the names spark_job masks (spec/secrets.py).
    "spark.redaction.regex": SPARK_REDACTION_REGEX,
}

DAEMON_MODULE = "spark.python.daemon.module"
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    # Workers forked from a daemon that has imported the model's libraries: see worker_daemon.
    # Local mode only by default: executors elsewhere need spark_job installed to run it.
    DAEMON_MODULE: "spark_job.scoring.worker_daemon",
}


log = logging.getLogger(__name__)

#: The source checkout, where ``make setup`` puts each Spark line's jars (``jars_dir``).
CHECKOUT = Path(__file__).resolve().parents[2]
#: A dummy OAuth token for emulators: with it the connector asks Google for none.
EMULATOR_ACCESS_TOKEN = "emulator-token"


def local_jars(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """The jars to add in local mode: ``$SPARK_JOB_JARS_DIR/*.jar``, else those of the
    checkout's folder for the running pyspark's line."""
    directory = Path(environ.get("SPARK_JOB_JARS_DIR") or CHECKOUT / running_line().jars_dir)
    return sorted(directory.glob("*.jar")) if directory.is_dir() else []


def emulator_conf(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Spark settings that point the JVM connectors at emulators named in ``environ``.

    Empty unless those variables are set: ``STORAGE_EMULATOR_HOST`` (fake-gcs-server) for the
    GCS connector; ``BIGQUERY_EMULATOR_HOST`` and ``SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST`` (a TLS
    gRPC port) for the spark-bigquery connector; ``SPARK_JOB_TRUSTSTORE`` (PKCS12, password
    ``$SPARK_JOB_TRUSTSTORE_PASSWORD`` or ``changeit``) for the JVMs to trust that port.
    """
    conf: dict[str, str] = {}
    storage = environ.get("STORAGE_EMULATOR_HOST")
    if storage:
        url = storage if "://" in storage else f"http://{storage}"
        conf.update({
            "spark.hadoop.fs.gs.storage.root.url": url,
            "spark.hadoop.fs.gs.auth.type": "UNAUTHENTICATED",
            # The same for the hadoop3-2.2.x connector (Spark 3.5's): no credentials at all.
            "spark.hadoop.fs.gs.auth.service.account.enable": "false",
            "spark.hadoop.fs.gs.auth.null.enable": "true",
            # fake-gcs-server has no storageLayout route, which folder support calls on delete.
            "spark.hadoop.fs.gs.hierarchical.namespace.folders.enable": "false",
            # fake-gcs-server answers the native object move (gcs-connector 3.0+) with HTTP
            # 400; Spark's committer renames through it. Off, a rename is copy + delete.
            "spark.hadoop.fs.gs.operation.move.enable": "false",
        })  # fmt: skip
    bigquery = environ.get("BIGQUERY_EMULATOR_HOST")
    if bigquery:
        prefix = "spark.datasource.bigquery."
        conf[prefix + "bigQueryHttpEndpoint"] = f"http://{bigquery}"
        conf[prefix + "gcpAccessToken"] = EMULATOR_ACCESS_TOKEN
        if environ.get("GOOGLE_CLOUD_PROJECT"):
            conf[prefix + "parentProject"] = environ["GOOGLE_CLOUD_PROJECT"]
        tls = environ.get("SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST")
        if tls:
            conf[prefix + "bigQueryStorageGrpcEndpoint"] = tls
    truststore = environ.get("SPARK_JOB_TRUSTSTORE")
    if truststore:
        password = environ.get("SPARK_JOB_TRUSTSTORE_PASSWORD", "changeit")
        java = (
            f"-Djavax.net.ssl.trustStore={truststore} -Djavax.net.ssl.trustStoreType=PKCS12"
            f" -Djavax.net.ssl.trustStorePassword={password}"
        )
        conf["spark.driver.extraJavaOptions"] = java
        conf["spark.executor.extraJavaOptions"] = java
    return conf


MAX_FAILURES = "spark.task.maxFailures"
#: Attempts per task in local mode when the user set none: Spark's default on a cluster.
DEFAULT_TASK_ATTEMPTS = 4


def _submit_arg(arguments: str, key: str) -> str | None:
    """The last ``--conf key=value`` of spark-submit style ``arguments``."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        return None
    found = None
    for index, word in enumerate(words):
        setting = word.removeprefix("--conf=") if word.startswith("--conf=") else None
        if word == "--conf" and index + 1 < len(words):
            setting = words[index + 1]
        name, _, value = (setting or "").partition("=")
        if name.strip() == key:
            found = value.strip()
    return found


def _defaults_file(environ: Mapping[str, str], key: str) -> str | None:
    """``key`` in ``spark-defaults.conf`` of ``$SPARK_CONF_DIR`` (or ``$SPARK_HOME/conf``)."""
    home = environ.get("SPARK_HOME")
    directory = environ.get("SPARK_CONF_DIR") or (os.path.join(home, "conf") if home else None)
    path = Path(directory or "", "spark-defaults.conf")
    if not directory or not path.is_file():
        return None
    found = None
    for line in path.read_text(errors="replace").splitlines():
        words = line.strip().replace("=", " ", 1).split(None, 1)
        if len(words) == 2 and words[0] == key:
            found = words[1].strip()
    return found


def task_attempts(conf: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> int:
    """How often local mode tries a task: ``spark.task.maxFailures`` as the user set it — in
    ``conf``, in ``PYSPARK_SUBMIT_ARGS`` (``--conf spark.task.maxFailures=N``), in
    ``spark-defaults.conf`` — else 4. (Local mode takes it only from its master URL.)"""
    for text in (
        conf.get(MAX_FAILURES),
        _submit_arg(environ.get("PYSPARK_SUBMIT_ARGS", ""), MAX_FAILURES),
        _defaults_file(environ, MAX_FAILURES),
    ):
        if text and text.isdigit() and int(text) >= 1:
            return int(text)
    return DEFAULT_TASK_ATTEMPTS


def local_master(conf: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> str:
    """``local[*,F]``: every core, and F attempts per task as on a cluster (plain
    ``local[*]`` fails the job on a task's first failure)."""
    return f"local[*,{task_attempts(conf, environ)}]"


def use_this_interpreter() -> None:
    """Make Python workers run the interpreter running us, so they see the same packages."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def start_zygote(settings: dict[str, str], modules: Sequence[str]) -> None:
    """Start the process that imports ``modules`` while the JVM starts and forks the Python
    worker daemon from them (:mod:`spark_job.scoring.zygote`), when the session's daemon is
    spark_job's; ``SPARK_JOB_ZYGOTE=off`` turns it off."""
    if settings.get(DAEMON_MODULE) != LOCAL_CONF[DAEMON_MODULE]:
        return
    if os.environ.get(zygote.ZYGOTE_ENV) == "off":
        return
    settings[f"spark.executorEnv.{zygote.ZYGOTE_ENV}"] = zygote.start(modules)


def build_session(
    app_name: str,
    local: bool = False,
    master: str | None = None,
    conf: dict[str, str] | None = None,
    preload: Sequence[str] = BASE_MODULES,
) -> SparkSession:
    """Return the job's SparkSession.

    With ``local`` the session runs in ``local[*,F]`` (see :func:`local_master`; ``master``,
    when given, as it is) and its workers use this interpreter, forked from a process that
    imports ``preload`` while the JVM starts; otherwise the master and resources come from
    spark-submit (or ``master``).
    """
    use_this_interpreter()
    builder = SparkSession.builder.appName(app_name)
    settings = dict(BASE_CONF)
    if local:
        builder = builder.master(master or local_master(conf or {}))
        settings.update(LOCAL_CONF)
        jars = local_jars()
        if jars:
            # On the JVM's own class path (local mode runs executors in the driver's JVM), so
            # that Hadoop's and Spark's service lookups see them: the ``gs`` file system,
            # the ``bigquery`` and ``avro`` data sources.
            settings["spark.driver.extraClassPath"] = os.pathsep.join(str(jar) for jar in jars)
            log.info("local mode: adding %s", ", ".join(jar.name for jar in jars))
            archive = jvm_archive.java_options(jars)
            if archive:  # Spark's classes mapped from the archive ``make setup`` recorded
                defaults = _defaults_file(os.environ, jvm_archive.JAVA_OPTIONS)  # kept
                settings[jvm_archive.JAVA_OPTIONS] = f"{defaults or ''} {archive}".strip()
    elif master:
        builder = builder.master(master)
    settings.update(emulator_conf())
    settings.update(conf or {})
    if local:
        start_zygote(settings, preload)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
