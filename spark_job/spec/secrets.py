"""Secrets: which names hold one, and masking their values wherever the job writes text.

A name holds a secret when it says so — ``token``, ``secret``, ``password``, ``passwd``,
``key`` or ``credential`` in any case: ``gcpAccessToken``, ``credentials``,
``credentialsFile``, ``myApiKey``, ``spark.hadoop.fs.gs.auth.client.secret``. Spark masks the
same names in its UI and event log through :data:`SPARK_REDACTION_REGEX`
(``spark.redaction.regex``, set by ``spark_job/run/session.py``).

Where the job shows a value next to its name (a params listing, an error about that value) it
shows :data:`MASK` instead (:func:`mask`, :func:`shown`). Beyond that, every value of a
secret-named key found in a spec is remembered for the process when the spec is parsed
(:func:`remember`), and each line the job writes for people or platforms — log records (a
record factory, installed then), state events, the status file, error messages — passes
through :func:`redact`, which replaces every remembered value wherever it appears (say, quoted
back by a library's error).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_WORDS = ("token", "secret", "password", "passwd", "key", "credential")
SECRET_NAME = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
#: ``spark.redaction.regex``: Spark masks a setting whose name or value matches it.
SPARK_REDACTION_REGEX = "(?i)" + "|".join(SECRET_WORDS)
#: What is shown instead of a secret (Spark's own replacement text).
MASK = "*********(redacted)"
#: Values shorter than this are masked next to their name only: replacing them everywhere
#: would garble ordinary text.
MIN_REMEMBERED = 4
_NOT_SECRET = {"true", "false", "null", "none", "yes", "no"}

_REMEMBERED: set[str] = set()
_factory_installed = False


def is_secret(name: str) -> bool:
    """Whether an option, param or setting called ``name`` holds a secret."""
    return bool(SECRET_NAME.search(name))


#: Endings of secret-named keys whose value says where a secret is, not what it is.
REFERENCE_ENDINGS = ("file", "path", "keyname")


def is_reference(name: str) -> bool:
    """Whether the secret-named ``name`` holds a reference (``credentialsFile``,
    ``destinationTableKmsKeyName``): masked all the same, but not itself a secret."""
    return name.lower().endswith(REFERENCE_ENDINGS)


def shown(name: str, value: Any) -> Any:
    """``value`` as it may be shown next to ``name``: :data:`MASK` for a secret."""
    return MASK if is_secret(name) else value


def mask(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the value of every secret-named key replaced by :data:`MASK`."""
    return {key: shown(str(key), value) for key, value in options.items()}


def find_secrets(document: Any, path: str = "") -> dict[str, str]:
    """Every secret in a parsed spec (YAML): field path → value as text, for keys named like
    secrets at any depth (with everything below such a key)."""
    found: dict[str, str] = {}
    if isinstance(document, Mapping):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret(str(key)):
                found.update(_scalars(value, where))
            else:
                found.update(find_secrets(value, where))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found.update(find_secrets(item, f"{path}[{index}]"))
    return found


def _scalars(value: Any, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            found.update(_scalars(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_scalars(item, f"{path}[{index}]"))
    elif value is not None and not isinstance(value, bool):
        found[path] = str(value)
    return found


def maskable(values: Iterable[str]) -> set[str]:
    """The ``values`` worth replacing wherever they appear (not ``true``, not one letter)."""
    return {v for v in values if len(v.strip()) >= MIN_REMEMBERED and v.lower() not in _NOT_SECRET}


def remember(values: Iterable[str]) -> None:
    """Mask ``values`` in everything :func:`redact` sees from now on, in this process (log
    records included)."""
    kept = maskable(values)
    if kept:
        _REMEMBERED.update(kept)
        _install_log_redaction()


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with each secret (default: the remembered ones) replaced by :data:`MASK`,
    longest first."""
    values = _REMEMBERED if secrets is None else set(secrets)
    for value in sorted(values, key=len, reverse=True):
        if value and value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: Any) -> Any:
    """Every string in ``data`` (dicts, lists, tuples) redacted; what is written as JSON."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, Mapping):
        return {key: redact_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(item) for item in data]
    return data


def _install_log_redaction() -> None:
    """Log records are redacted as they are made, whatever handler prints them later."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
