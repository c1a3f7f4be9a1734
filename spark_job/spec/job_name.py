"""Job names, checked with Cloud ML Engine's rules when they become an output or load-job id."""

from __future__ import annotations

import re

from spark_job.errors import UserError

MAX_LENGTH = 128
_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def validate_job_name(name: str) -> str:
    """Return ``name`` if it is a valid job name, else raise a UserError naming --job-name.

    Rules (Cloud ML Engine): letters, digits and underscores only, starting with a letter,
    at most 128 characters.

    >>> validate_job_name("iris_batch_2024")
    'iris_batch_2024'
    """
    if not name:
        raise UserError("--job-name: must not be empty")
    if len(name) > MAX_LENGTH:
        raise UserError(
            f"--job-name: {name[:20]!r}... is {len(name)} characters long; "
            f"at most {MAX_LENGTH} are allowed"
        )
    if not _PATTERN.fullmatch(name):
        if not name[0].isalpha() or not name[0].isascii():
            problem = "must start with a letter"
        else:
            bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "_"))})
            problem = f"contains {''.join(bad)!r}"
        hint = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not hint[:1].isalpha():
            hint = "job_" + hint
        raise UserError(
            f"--job-name: {name!r} {problem}; a job name may contain only letters, digits and "
            f"underscores and must start with a letter (e.g. {hint[:MAX_LENGTH]!r})"
        )
    return name
