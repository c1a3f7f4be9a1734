"""Retrying what BigQuery and GCS answer with a transient error (5xx, UNAVAILABLE, 429)."""

from __future__ import annotations

from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type

TRANSIENT_ERRORS = (
    exceptions.InternalServerError,
    exceptions.BadGateway,
    exceptions.ServiceUnavailable,
    exceptions.GatewayTimeout,
    exceptions.TooManyRequests,
)

#: Exponential backoff from 1 s to 30 s, for at most 5 minutes.
TRANSIENT_RETRY = Retry(
    predicate=if_exception_type(*TRANSIENT_ERRORS), initial=1.0, maximum=30.0, timeout=300.0
)
