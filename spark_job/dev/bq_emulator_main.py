"""Start bqemulator without DuckDB's spatial extension (it is downloaded at start, offline here).

Run as ``python -m spark_job.dev.bq_emulator_main start --rest-port P --grpc-port G ...``;
the arguments are bqemulator's own. GEOGRAPHY columns are not needed by spark_job's tests.
"""

from __future__ import annotations

import sys


def main() -> None:
    from bqemulator.cli import main as bqemulator_main
    from bqemulator.storage.engine import DuckDBEngine

    DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]
    sys.argv[0] = "bqemulator"
    bqemulator_main()


if __name__ == "__main__":
    main()
