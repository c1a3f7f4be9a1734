"""Structured lifecycle events: one JSON line per state change, on standard output."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def emit(state: str, job: str, **fields: Any) -> None:
    record = {"event": "state", "state": state, "job": job, "time": round(time.time(), 3)}
    record.update({k: v for k, v in fields.items() if v is not None})
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)
