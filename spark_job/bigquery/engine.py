"""Which BigQuery engine runs: the spark-bigquery connector or our pure-Python Storage API one.

The ``engine`` key of a source's or sink's ``options`` chooses: ``auto`` (default) uses the
connector when Spark can find it in the driver JVM, else ``storage-api``; the choice is logged.

"Can find it" is asked of Spark itself (its data source lookup for the name ``bigquery``) rather
than of one class name: the connector's provider class differs between its jars
(``Scala213BigQueryRelationProvider`` in spark-bigquery-with-dependencies,
``Spark35BigQueryTableProvider``, ``Spark40BigQueryTableProvider``... in the spark-X.Y-bigquery
jars), and all of them register the short name ``bigquery``.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from spark_job.errors import UserError
from spark_job.spec.options import ENGINES, BigQueryOptions

_, CONNECTOR, STORAGE_API = ENGINES  # auto, connector, storage-api
#: The short name every spark-bigquery connector jar registers with Spark.
CONNECTOR_FORMAT = "bigquery"

log = logging.getLogger(__name__)


#: What Spark's lookup answers for a Python data source (``spark.dataSource.register``).
PYTHON_DATA_SOURCE_PACKAGE = "org.apache.spark.sql.execution.datasources.v2.python."


def jvm_data_source_available(spark: SparkSession, name: str) -> bool:
    """Whether Spark's driver JVM resolves the data source ``name`` to a class on its classpath.

    Python data sources registered under ``name`` do not count. False also when there is no
    JVM to ask (Spark Connect).
    """
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        conf = spark._jsparkSession.sessionState().conf()  # type: ignore[attr-defined]
        lookup = jvm.org.apache.spark.sql.execution.datasources.DataSource.lookupDataSource
        found = lookup(name, conf).getName()
    except Exception:  # DATA_SOURCE_NOT_FOUND, or no JVM access
        return False
    return not str(found).startswith(PYTHON_DATA_SOURCE_PACKAGE)


def connector_available(spark: SparkSession) -> bool:
    """Whether the spark-bigquery connector is on the driver's classpath."""
    return jvm_data_source_available(spark, CONNECTOR_FORMAT)


def choose_engine(spark: SparkSession, options: BigQueryOptions, field: str) -> str:
    """The engine ``options.engine`` names, ``auto`` resolved; ``field`` (e.g.
    ``bigquerySource``) for the log line."""
    wanted = options.engine
    if wanted == "auto":
        wanted = CONNECTOR if connector_available(spark) else STORAGE_API
        log.info("%s: BigQuery engine %s (auto)", field, wanted)
    else:
        log.info("%s: BigQuery engine %s (options.engine)", field, wanted)
    return wanted


def connector_options(options: BigQueryOptions) -> dict[str, str]:
    """The user's options as handed to the connector: everything but our ``engine`` key."""
    return dict(options.connector_options)


def connector_missing_error(error: Exception, field: str) -> UserError | None:
    """A user error when ``error`` is Spark saying it has no ``bigquery`` data source: the user
    forced ``engine: connector`` without the connector jar on the classpath. Else None."""
    text = str(error)
    if "DATA_SOURCE_NOT_FOUND" in text and CONNECTOR_FORMAT in text:
        return UserError(
            f"{field}.options.engine: connector, but Spark has no spark-bigquery connector on its"
            " classpath (add its jar with --jars or --packages), or use engine: storage-api"
            " or auto."
        )
    return None
