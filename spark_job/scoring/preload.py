"""Importing the modules a model's Python workers need, before they are forked."""

from __future__ import annotations

import importlib
import sys

#: The modules to import (comma-separated), set by the driver in the workers' environment.
PRELOAD_ENV = "SPARK_JOB_PRELOAD"


def preload(names: str) -> list[str]:
    """Import each module named in ``names``; return those that failed."""
    failed = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except Exception as error:  # the worker will import it, and report a real failure
            failed.append(name)
            print(f"spark_job daemon: cannot preload {name}: {error}", file=sys.stderr)
    return failed
