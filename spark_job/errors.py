"""Errors the job distinguishes: a user's mistake (exit 2) from a runtime failure (exit 1)."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a bad spec, a missing column, an existing output.

    The message is shown as-is (no traceback) and the process exits with code 2.
    It should name the spec field (``bigquerySink.save_mode``) or the column at fault.
    """
