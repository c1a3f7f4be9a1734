"""What a failed Spark job means: a user's mistake (exit 2) or a runtime failure (exit 1).

A Python exception raised inside a task reaches the driver as a Spark exception whose text
holds the worker's traceback; its exception lines (``module.Type: message``) name the Python
type that was raised. The task failure is classified by that type — the exception classes a
task raises for the user's input or model (see :data:`USER_ERROR_TYPES`) — not by the wording
of the message.
"""

from __future__ import annotations

import re

from spark_job.errors import UserError
from spark_job.scoring.model import ModelLoadError
from spark_job.scoring.results import ModelOutputError
from spark_job.scoring.row_errors import BadInputError, InstanceFailedError

#: Exceptions raised in tasks for something the user must fix: the model's output does not fit
#: ``model.result``; an input instance is unusable, or the model raises on one, under
#: FAIL_FAST; the model cannot be loaded.
USER_ERROR_TYPES = (ModelOutputError, BadInputError, InstanceFailedError, ModelLoadError)

_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*): (.+)$", re.MULTILINE)


def _qualified(kind: type[BaseException]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


_USER_ERRORS = {_qualified(kind) for kind in USER_ERROR_TYPES}


def raised_in_task(error: BaseException) -> list[tuple[str, str]]:
    """(type, message) of each Python exception line in a task failure's traceback text."""
    return [(m.group(1), m.group(2).strip()) for m in _EXCEPTION_LINE.finditer(str(error))]


#: Spark's error class for a file its reader cannot read (a corrupt or truncated file).
_UNREADABLE_FILE = re.compile(
    r"\[FAILED_READ_FILE[.\w]*\] Encountered error while reading file (\S+)\.\s+([^\n]*)"
)


def unreadable_input(error: BaseException, field: str) -> UserError | None:
    """A UserError naming the file when Spark's reader failed on a corrupt input file (on the
    driver, reading a footer, or in a task), else None. ``field``: the source's spec field."""
    match = _UNREADABLE_FILE.search(str(error))
    if match is None:
        return None
    path = re.sub(r"^file:(//)?", "", match.group(1))
    return UserError(f"{field}: {path} cannot be read: {match.group(2).strip()}")


def user_error_from_task(error: BaseException) -> UserError | None:
    """The task failure as a UserError when a task raised one of :data:`USER_ERROR_TYPES`
    (its message, which names the spec field, column or file), else None."""
    for kind, message in raised_in_task(error):
        if kind in _USER_ERRORS:
            return UserError(message)
    return None
