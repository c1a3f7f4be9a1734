"""The job's log file: Spark's logs, the job's own log lines and whatever else a run prints.

The console shows the job's lines only (:mod:`spark_job.run.console`); everything else goes to
one file (``--log-file``, default ``<temp dir>/spark_job-<job>-<run id>.log``):

- **this process's standard error** (file descriptor 2) is pointed at the file for the run:
  library warnings, MLflow's and py4j's log lines land there; the console writes its lines to
  a copy of the original descriptor. A JVM that PySpark starts for the run (``--local``, or
  ``python -m spark_job --master …``) inherits it, so *all* it prints goes to the file: the
  JVM's start-up warnings, log4j's notices and Spark's log4j lines (console appender), task
  failures, and the Python workers' standard error (which the JVM forwards);
- **under spark-submit** the JVM started first, with the console as its standard error (and
  the driver's standard error merged into its standard output). Through the gateway the job
  then makes Spark finish its logging set-up, replaces log4j's console appenders by a file
  appender on the log file (the configured levels stay; the root at WARN at most), and points
  the JVM's ``System.err`` at the file (the Python workers' standard error). What the JVM
  printed before the job's Python started stays on the console: with the image's
  ``conf/log4j2.properties`` that is the JVM's own ``WARNING: Using incubator modules`` line;
- **the job's own log lines** (``spark_job.*``, at ``--log-level``) are written to the file;
  its warnings also appear on the console as ``warning: …``.

``SPARK_JOB_DEBUG=1`` routes nothing away: Spark logs to the console as it would, the job's log
lines go to standard error in full (and to the file), and a failure shows its traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from spark_job.errors import UserError
from spark_job.run.console import ON_CONSOLE, Console

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%y/%m/%d %H:%M:%S"
#: log4j's pattern for Spark's lines in the file (that of ``conf/log4j2.properties``).
LOG4J_PATTERN = "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex"
LOG4J_APPENDER = "spark_job_file"

log = logging.getLogger(__name__)


def debugging(environ: Any = os.environ) -> bool:
    """``SPARK_JOB_DEBUG`` set (and not 0/false): show everything on the console."""
    return str(environ.get("SPARK_JOB_DEBUG", "")).lower() not in ("", "0", "false", "no")


def default_log_file(job_name: str, run_id: str) -> Path:
    """``<temp dir>/spark_job-<job>-<run id>.log`` (the job name made safe for a file name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", job_name).strip("._") or "job"
    return Path(tempfile.gettempdir()) / f"spark_job-{safe}-{run_id}.log"


class _NotShown(logging.Filter):
    """Leave out records the console printed itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, ON_CONSOLE, False)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


class JobLog:
    """The log file of one run, with :meth:`open` / :meth:`close` around the run."""

    def __init__(self, path: Path, console: Console, level: str = "INFO") -> None:
        self.path = Path(path).absolute()
        self.console = console
        self.level = level
        self.debug = debugging()
        self._handlers: list[logging.Handler] = []
        self._saved_fd: int | None = None
        self._console_err: TextIO | None = None

    def open(self) -> JobLog:
        """Start writing the log file (UserError if it cannot be written)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise UserError(f"--log-file: cannot write {self.path}: {error.strerror}") from None
        if self.debug:
            os.close(target)
        else:
            self._redirect_stderr(target)
        self._install_handlers()
        self.console.log_file = str(self.path)
        if not self.debug:
            route_submitted_jvm(self.path)
        return self

    def has_content(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def close(self) -> None:
        """Restore standard error and the handlers; an empty log file is removed."""
        logger = logging.getLogger("spark_job")
        for handler in self._handlers:
            logger.removeHandler(handler)
            handler.close()
        self._handlers = []
        self.console.log_file = None
        if self._saved_fd is not None:
            sys.stderr.flush()
            os.dup2(self._saved_fd, 2)
            self.console.err = None
            if self._console_err is not None:
                self._console_err.close()  # closes the saved descriptor
            self._saved_fd = None
        if not self.has_content():
            self.path.unlink(missing_ok=True)

    def _redirect_stderr(self, target: int) -> None:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        os.dup2(target, 2)
        os.close(target)
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        self._console_err = open(  # noqa: SIM115 - closed in close()
            self._saved_fd, "w", buffering=1, encoding=encoding, errors="replace", closefd=True
        )
        self.console.err = self._console_err

    def _install_handlers(self) -> None:
        logger = logging.getLogger("spark_job")
        for handler in [h for h in logger.handlers if getattr(h, "spark_job", False)]:
            logger.removeHandler(handler)  # an earlier run's, in this process
        to_file = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        to_file.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
        to_file.setLevel(self.level)
        shown = logging.StreamHandler(self.console.err)
        shown.addFilter(_NotShown())
        if self.debug:
            shown.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
            shown.setLevel(self.level)
        else:
            shown.setFormatter(_ConsoleFormatter())
            shown.setLevel(logging.ERROR if self.console.quiet else logging.WARNING)
        for handler in (to_file, shown):
            handler.spark_job = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
            self._handlers.append(handler)
        logger.setLevel(self.level)


_ROUTED: list[Path] = []


def route_submitted_jvm(path: Path) -> bool:
    """Under spark-submit (a driver JVM is already up), send its logs to ``path``; True when
    done. Elsewhere nothing: the JVM PySpark starts inherits the redirected standard error."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return False
    try:
        from pyspark import SparkContext

        SparkContext._ensure_initialized()  # noqa: SLF001 - connects; starts nothing here
        jvm = SparkContext._jvm  # noqa: SLF001
        try:  # Spark re-initializes log4j at its first log line unless it was done already
            jvm.org.apache.spark.SparkConf(False).initializeLogIfNecessary(False, True)
        except Exception as error:  # internal API: reroute_jvm_logs() catches up later
            log.debug("could not initialize Spark's logging first: %s", error)
        _route_log4j(jvm, str(path))
        stream = jvm.java.io.PrintStream(jvm.java.io.FileOutputStream(str(path), True), True)
        jvm.java.lang.System.setErr(stream)
    except Exception as error:  # the job runs all the same, its Spark logs on the console
        log.warning("Spark's logs stay on the console (%s)", error)
        return False
    _ROUTED[:] = [path]
    return True


def reroute_jvm_logs() -> None:
    """After the SparkSession started: route log4j again if Spark reconfigured it meanwhile."""
    if not _ROUTED:
        return
    from pyspark import SparkContext

    try:
        _route_log4j(SparkContext._jvm, str(_ROUTED[0]))  # noqa: SLF001
    except Exception as error:
        log.debug("could not check where Spark logs: %s", error)


def _route_log4j(jvm: Any, path: str) -> None:
    """Replace log4j's console appenders by one file appender on ``path`` (idempotent); the
    root logger logs WARN at most."""
    core = jvm.org.apache.logging.log4j.core
    context = jvm.org.apache.logging.log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    root = config.getRootLogger()
    if root.getAppenders().containsKey(LOG4J_APPENDER):
        return
    layout = (
        core.layout.PatternLayout.newBuilder()
        .withPattern(LOG4J_PATTERN)
        .withConfiguration(config)
        .build()
    )
    appender = (
        core.appender.FileAppender.newBuilder()
        .withFileName(path)
        .withAppend(True)
        .setName(LOG4J_APPENDER)
        .setLayout(layout)
        .setConfiguration(config)
        .build()
    )
    appender.start()
    config.addAppender(appender)
    for logger in [*config.getLoggers().values(), root]:
        appenders = logger.getAppenders()
        for name in list(appenders.keySet()):
            if appenders.get(name).getClass().getSimpleName() == "ConsoleAppender":
                logger.removeAppender(name)
    root.addAppender(appender, None, None)
    warn = jvm.org.apache.logging.log4j.Level.WARN
    if root.getLevel().isLessSpecificThan(warn):
        root.setLevel(warn)
    context.updateLoggers()
