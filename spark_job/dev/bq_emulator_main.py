"""Start bqemulator offline, and with a TLS gRPC port beside its plaintext one (development only).

Run as ``python -m spark_job.dev.bq_emulator_main start --rest-port P --grpc-port G ...``;
the arguments are bqemulator's own. Three changes to it:

- DuckDB's spatial extension is not loaded (it is downloaded at start, and there is no network);
  GEOGRAPHY columns are not needed by spark_job's tests.
- With ``SPARK_JOB_EMULATOR_TLS_PORT``, ``SPARK_JOB_EMULATOR_TLS_CERT`` and
  ``SPARK_JOB_EMULATOR_TLS_KEY`` set, the same gRPC server also listens on that port with TLS:
  the spark-bigquery connector only speaks TLS to the Storage API.
- Where bqemulator answers unlike real BigQuery in a way the spark-bigquery connector trips
  on, it is patched to answer like BigQuery (``bq_emulator_patches.py`` and
  ``bq_emulator_jobs.py`` list each gap).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def _with_tls_port(build: Any) -> Any:
    """Wrap bqemulator's gRPC server factory so that the server also binds a TLS port."""
    import grpc

    port = os.environ.get("SPARK_JOB_EMULATOR_TLS_PORT")
    if not port:
        return build
    certificate = Path(os.environ["SPARK_JOB_EMULATOR_TLS_CERT"]).read_bytes()
    key = Path(os.environ["SPARK_JOB_EMULATOR_TLS_KEY"]).read_bytes()

    def build_with_tls(context: Any) -> tuple[Any, int]:
        server, plain_port = build(context)
        credentials = grpc.ssl_server_credentials([(key, certificate)])
        server.add_secure_port(f"127.0.0.1:{port}", credentials)
        return server, plain_port

    return build_with_tls


def main() -> None:
    import bqemulator.server
    from bqemulator.cli import main as bqemulator_main
    from bqemulator.storage.engine import DuckDBEngine

    from spark_job.dev import bq_emulator_jobs, bq_emulator_patches

    bq_emulator_patches.apply()
    bq_emulator_jobs.apply()
    DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]
    bqemulator.server.build_grpc_server = _with_tls_port(bqemulator.server.build_grpc_server)
    sys.argv[0] = "bqemulator"
    bqemulator_main()


if __name__ == "__main__":
    main()
