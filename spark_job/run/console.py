"""What the job prints on the console: its states, progress, summary and errors — nothing else.

Two formats (``--log-format``; ``auto`` picks ``human`` when standard output is a terminal,
else ``json``):

- ``human``: a short line per state (``RUNNING   Spark local-17…; full log: PATH``), a live
  progress bar redrawn in place (see :mod:`spark_job.run.progress`), the summary line;
- ``json``: one JSON object per line on standard output — ``{"event": "state", …}``,
  ``{"event": "progress", …}``, ``{"event": "summary", …}`` — and nothing else there, for a
  pod's log and log collectors.

In both, errors are ``error: …`` lines (and the job's own warnings ``warning: …`` lines) on
standard error; ``--quiet`` leaves out the states, the progress and the warnings. Everything
else — Spark's logs, the job's own log lines, library warnings — goes to the job's log file
(:mod:`spark_job.run.job_log`). One :class:`Console` serves the process (:func:`current`).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from spark_job.spec.secrets import redact, redact_data

HUMAN = "human"
JSON = "json"
FORMATS = ("auto", HUMAN, JSON)
#: Seconds between redraws of the live progress bar (JSON progress lines: ``--progress-interval``).
LIVE_INTERVAL = 0.5
DEFAULT_INTERVAL = 10.0
#: Records the console also logs to the log file carry this attribute: the console handler of
#: :mod:`spark_job.run.job_log` skips them (they are on the console already).
ON_CONSOLE = "spark_job_on_console"

log = logging.getLogger(__name__)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    """The console of one process: ``format`` ``human`` or ``json``; ``quiet``: only the summary
    and errors. ``out`` and ``err`` default to the process's standard output and error as they
    are when written to; ``log_file`` is named once (the RUNNING state) and after a failure."""

    def __init__(
        self,
        format: str = JSON,  # noqa: A002 - the flag's name
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.format = format
        self.quiet = quiet
        self._out = out
        self._err = err
        self.log_file: str | None = None

    @classmethod
    def choose(cls, log_format: str = "auto", quiet: bool = False) -> Console:
        """``log_format`` ``auto`` is ``human`` on a terminal, else ``json``."""
        if log_format == "auto":
            log_format = HUMAN if _is_terminal(sys.stdout) else JSON
        return cls(log_format, quiet)

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    @err.setter
    def err(self, stream: TextIO | None) -> None:
        self._err = stream

    @property
    def human(self) -> bool:
        return self.format == HUMAN

    def progress_interval(self, requested: float | None) -> float:
        """Seconds between progress reports: none when quiet; ``requested`` when given; else a
        live bar's redraw interval, or 10 s between JSON lines."""
        if self.quiet:
            return 0.0
        if requested is not None:
            return requested
        return LIVE_INTERVAL if self.human else DEFAULT_INTERVAL

    def _log(self, level: int, text: str) -> None:
        """``text`` in the log file too, while there is one (it is on the console already)."""
        if self.log_file:
            log.log(level, "%s", text, extra={ON_CONSOLE: True})

    def _write(self, stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    def state(self, record: dict[str, Any]) -> None:
        """A state event (``{"event": "state", "state": …}``, secrets already masked)."""
        if record.get("state") == "RUNNING" and self.log_file:
            record = {**record, "log_file": self.log_file}
        text = json.dumps(record, default=str)
        self._log(logging.INFO, text)
        if self.quiet:
            return
        self._write(self.out, human_state(record) if self.human else text)

    def summary(self, text: str, **fields: Any) -> None:
        """The run's summary: ``text`` (``instances: …``) for people, with ``fields`` in JSON."""
        text = redact(text)
        self._log(logging.INFO, text)
        if self.human:
            self._write(self.out, text)
            return
        record = redact_data({"event": "summary", "summary": text, **fields})
        self._write(self.out, json.dumps(record, default=str))

    def error(self, message: str, show_log: bool = False) -> None:
        """``error: message`` on standard error; with ``show_log``, where the full log is."""
        line = f"error: {redact(message)}"
        self._log(logging.ERROR, line)
        self._write(self.err, line)
        if show_log and self.log_file:
            self._write(self.err, f"full log: {self.log_file}")

    def warning(self, message: str) -> None:
        """``warning: message`` on standard error (not when quiet)."""
        line = f"warning: {redact(message)}"
        self._log(logging.WARNING, line)
        if not self.quiet:
            self._write(self.err, line)


def human_state(record: dict[str, Any]) -> str:
    """One short line for a state event."""
    state = str(record.get("state"))
    detail = ""
    if state == "PENDING":
        detail = f"{record.get('job')}" + (
            f", run {record['run_id']}" if "run_id" in record else ""
        )
    elif state == "RUNNING":
        detail = f"Spark {record.get('spark_application_id', '')}".rstrip()
        if record.get("log_file"):
            detail += f"; full log: {record['log_file']}"
    elif state == "COMPLETED" and record.get("outcome") == "SKIPPED":
        detail = "(skipped)"
    elif state == "TERMINATING":
        detail = "SIGTERM: cancelling, nothing will be published"
    elif state == "TERMINATED":
        detail = str(record.get("error", ""))
    return f"{state:<11} {detail}".rstrip()


_CONSOLE = Console()


def current() -> Console:
    """The process's console (JSON on standard output until :func:`configure` is called)."""
    return _CONSOLE


def configure(console: Console) -> Console:
    """Make ``console`` the process's console; returns it."""
    global _CONSOLE
    _CONSOLE = console
    return console
