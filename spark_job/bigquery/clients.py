"""BigQuery and GCS clients: emulator endpoints when their variables are set, else ADC.

``BIGQUERY_EMULATOR_HOST=host:port`` (REST), ``BIGQUERY_STORAGE_EMULATOR_HOST=host:port``
(Storage Read gRPC) and ``STORAGE_EMULATOR_HOST=http://host:port`` (GCS) select emulators
and anonymous credentials; otherwise Application Default Credentials are used.
"""

from __future__ import annotations

import os
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError

from spark_job.errors import no_credentials


def default_project() -> str | None:
    for key in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if os.environ.get(key):
            return os.environ[key]
    if os.environ.get("BIGQUERY_EMULATOR_HOST"):
        return None
    try:
        import google.auth

        return google.auth.default()[1]
    except Exception:  # no ADC configured: the caller asks the user for a project
        return None


def bigquery_client(project: str | None) -> Any:
    from google.cloud import bigquery

    host = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if host:
        endpoint = host if host.startswith("http") else f"http://{host}"
        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    try:
        return bigquery.Client(project=project)
    except DefaultCredentialsError as error:
        raise no_credentials("BigQuery", error) from None


def storage_read_emulator() -> str | None:
    """The Storage Read emulator endpoint, if any (read on the driver, handed to executors)."""
    return os.environ.get("BIGQUERY_STORAGE_EMULATOR_HOST") or None


def bigquery_read_client(emulator_host: str | None = None) -> Any:
    """A Storage Read client; ``emulator_host`` (default: from the environment) selects an
    emulator. Executors are given the driver's value, as their environment may lack it."""
    from google.cloud import bigquery_storage_v1

    host = emulator_host or storage_read_emulator()
    if host:
        import grpc
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
            BigQueryReadGrpcTransport,
        )

        channel = grpc.insecure_channel(
            host,
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        transport = BigQueryReadGrpcTransport(channel=channel)
        return bigquery_storage_v1.BigQueryReadClient(transport=transport)
    try:
        return bigquery_storage_v1.BigQueryReadClient()
    except DefaultCredentialsError as error:
        raise no_credentials("BigQuery Storage", error) from None
