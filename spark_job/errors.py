"""Errors the job distinguishes: a user's mistake (exit 2) from a runtime failure (exit 1)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


class UserError(Exception):
    """Something the user can fix: a bad spec, a missing column, an existing output.

    The message is shown as-is (no traceback) and the process exits with code 2.
    It should name the spec field (``bigquerySink.save_mode``) or the column at fault.
    """


def no_credentials(service: str, error: Exception) -> UserError:
    """What to tell a user whose ``service`` client found no Google credentials (``error``:
    google-auth's ``DefaultCredentialsError``)."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(
        f"{service}: no Google credentials found ({reason.rstrip('.')}). Set"
        " GOOGLE_APPLICATION_CREDENTIALS to a service account key file or run 'gcloud auth"
        " application-default login' (on Kubernetes: Workload Identity)."
    )


#: Services by the path of their REST API (their emulators serve the same paths).
_SERVICES = {
    "/bigquery/": "BigQuery",
    "/storage/": "Cloud Storage",
    "/upload/storage/": "Cloud Storage",
}
_OS_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it: ``__cause__``, ``__context__`` and google-api-core's
    ``RetryError.cause``, without repeats."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        item = pending.pop(0)
        if any(item is seen for seen in found):
            continue
        found.append(item)
        pending += [
            c for c in (item.__cause__, item.__context__, getattr(item, "cause", None)) if c
        ]
    return found


def unreachable_service(error: BaseException) -> str | None:
    """``BigQuery at http://host:port cannot be reached: Connection refused`` when ``error``
    (or what caused it) is a failed connection to a Google API or its emulator, else None."""
    try:
        from requests.exceptions import ConnectionError as RequestsConnectionError
    except ImportError:  # pragma: no cover - google's clients depend on requests
        return None
    for item in _causes(error):
        if not isinstance(item, RequestsConnectionError):
            continue
        url = str(getattr(item.request, "url", "") or "")
        parts = urlsplit(url)
        path = parts.path or ""
        service = next(
            (name for prefix, name in _SERVICES.items() if path.startswith(prefix)), None
        )
        service = service or parts.hostname or "a service"
        endpoint = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "its endpoint"
        reason = _OS_REASON.search(str(item))
        why = reason.group(1).strip() if reason else "no connection"
        return f"{service} at {endpoint} cannot be reached: {why}"
    return None
