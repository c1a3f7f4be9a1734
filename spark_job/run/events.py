"""Structured lifecycle events: one per state change, on the console — a JSON line on standard
output, or a short human line on a terminal (:mod:`spark_job.run.console`) — secrets masked
(see :mod:`spark_job.spec.secrets`)."""

from __future__ import annotations

import time
from typing import Any

from spark_job.run.console import current
from spark_job.spec.secrets import redact_data


def emit(state: str, job: str, **fields: Any) -> None:
    record = {"event": "state", "state": state, "job": job, "time": round(time.time(), 3)}
    record.update({k: v for k, v in fields.items() if v is not None})
    current().state(redact_data(record))
