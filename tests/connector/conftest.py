"""The real spark-bigquery connector (the 3.5 line's jar, ``jars-3.5/``) against the emulators.

Every test here runs in ``make test``'s 3.5 lane (marked ``spark35`` below); the default line
skips this folder (``--ignore``): the connector built for Spark 4 is not served here. A session
without the connector on its class path fails the tests: nothing here is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bq_helpers import create_dataset
from tests.conftest import EMULATOR_PROJECT

HERE = Path(__file__).resolve().parent
DATASET = "connector_tests"
BUCKET = "connector-staging"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.spark35)


@pytest.fixture(scope="session")
def connector_spark(spark: Any) -> Iterator[Any]:
    """The test session's SparkSession, which must have the connector jar."""
    from spark_job.bigquery.engine import connector_available

    assert connector_available(spark), "no spark-bigquery connector: run make setup SPARK=3.5"
    yield spark


@pytest.fixture(scope="session")
def connector_env(emulators: Any) -> dict[str, str]:
    """The dataset and the staging bucket the connector tests share."""
    from spark_job.storage import gcs

    create_dataset(DATASET)
    storage = gcs.client()
    if storage.lookup_bucket(BUCKET) is None:
        storage.create_bucket(BUCKET)
    return {"project": EMULATOR_PROJECT, "dataset": DATASET, "bucket": BUCKET}
