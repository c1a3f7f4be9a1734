"""Which BigQuery engine runs: the spark-bigquery connector or our pure-Python Storage API one.

The ``engine`` key of a source's or sink's ``options`` chooses: ``auto`` (default) uses the
connector when its classes load in the driver JVM, else ``storage-api``; the choice is logged.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from spark_job.errors import UserError

CONNECTOR = "connector"
STORAGE_API = "storage-api"
ENGINES = ("auto", CONNECTOR, STORAGE_API)
CONNECTOR_CLASS = "com.google.cloud.spark.bigquery.BigQueryRelationProvider"

log = logging.getLogger(__name__)


def connector_available(spark: SparkSession) -> bool:
    """Whether the spark-bigquery connector's classes load in the driver JVM."""
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Class.forName(CONNECTOR_CLASS)
        return True
    except Exception:  # no JVM access (Spark Connect) or no jar: the Python engine
        return False


def choose_engine(spark: SparkSession, options: dict[str, str], field: str) -> str:
    """The engine named by ``options['engine']``; ``field`` (e.g. ``bigquerySource``) for errors."""
    wanted = options.get("engine", "auto").strip().lower()
    if wanted not in ENGINES:
        raise UserError(
            f"{field}.options.engine: '{options['engine']}' is not one of {', '.join(ENGINES)}."
        )
    if wanted == "auto":
        wanted = CONNECTOR if connector_available(spark) else STORAGE_API
        log.warning("%s: BigQuery engine %s (auto)", field, wanted)
    return wanted


def connector_options(options: dict[str, str]) -> dict[str, str]:
    """The user's options as handed to the connector: everything but our ``engine`` key."""
    return {key: value for key, value in options.items() if key != "engine"}
