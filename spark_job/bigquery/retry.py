"""Retrying what BigQuery and GCS answer with a transient error (5xx, UNAVAILABLE, 429, and
BigQuery's 403 ``rateLimitExceeded``) or never answer: a connection refused, reset or dropped
before the answer came, a read that timed out.

Only calls that are safe to repeat take this retry: gets and lookups, deletes with
``not_found_ok``, inserts of a job with a fixed id (a repeated insert that had reached BigQuery
answers 409, and the caller then looks the job up), a table create whose 409 the caller
recognises as its own. When the faults persist past the deadline the last error is raised:
the CLI then names the service and its endpoint on one line (exit 1, see
:func:`spark_job.errors.unreachable_service`).
"""

from __future__ import annotations

import os

import requests
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.auth.exceptions import TransportError

TRANSIENT_ERRORS = (
    exceptions.InternalServerError,
    exceptions.BadGateway,
    exceptions.ServiceUnavailable,
    exceptions.GatewayTimeout,
    exceptions.TooManyRequests,
)
#: No answer at all: the connection refused, reset or dropped, or the answer cut short.
DROPPED_CONNECTIONS = (
    ConnectionError,  # the builtin: ConnectionResetError, BrokenPipeError, ...
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    TransportError,  # google-auth's, fetching a token
)
#: How long a call is retried in all, in seconds (``SPARK_JOB_RETRY_SECONDS``, default 300).
DEADLINE_VARIABLE = "SPARK_JOB_RETRY_SECONDS"


def rate_limited(error: BaseException) -> bool:
    """BigQuery answers some rate limits (job inserts, table updates) with 403
    ``rateLimitExceeded`` rather than 429; other 403s (permissions, quota) are final."""
    return isinstance(error, exceptions.Forbidden) and any(
        item.get("reason") == "rateLimitExceeded" for item in (error.errors or [])
    )


def transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS + DROPPED_CONNECTIONS) or rate_limited(error)


def deadline_seconds() -> float:
    """The retry deadline of this process: ``SPARK_JOB_RETRY_SECONDS`` when it is a positive
    number (an operator may want a job to fail sooner when a service is down), else 300."""
    try:
        value = float(os.environ.get(DEADLINE_VARIABLE, ""))
    except ValueError:
        return 300.0
    return value if value > 0 else 300.0


#: Exponential backoff from 1 s to 30 s, for at most :func:`deadline_seconds`.
TRANSIENT_RETRY = Retry(predicate=transient, initial=1.0, maximum=30.0, timeout=deadline_seconds())
