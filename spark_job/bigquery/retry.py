"""Retrying what BigQuery and GCS answer with a transient error (5xx, UNAVAILABLE, 429, and
BigQuery's 403 ``rateLimitExceeded``)."""

from __future__ import annotations

from google.api_core import exceptions
from google.api_core.retry import Retry

TRANSIENT_ERRORS = (
    exceptions.InternalServerError,
    exceptions.BadGateway,
    exceptions.ServiceUnavailable,
    exceptions.GatewayTimeout,
    exceptions.TooManyRequests,
)


def rate_limited(error: BaseException) -> bool:
    """BigQuery answers some rate limits (job inserts, table updates) with 403
    ``rateLimitExceeded`` rather than 429; other 403s (permissions, quota) are final."""
    return isinstance(error, exceptions.Forbidden) and any(
        item.get("reason") == "rateLimitExceeded" for item in (error.errors or [])
    )


def transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS) or rate_limited(error)


#: Exponential backoff from 1 s to 30 s, for at most 5 minutes.
TRANSIENT_RETRY = Retry(predicate=transient, initial=1.0, maximum=30.0, timeout=300.0)
