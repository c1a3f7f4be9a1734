"""The job's states and what SIGTERM does.

States, one JSON line each on stdout: PENDING → RUNNING → COMPLETED | FAILED, or on SIGTERM
(what Kubernetes sends when a user stops the job) TERMINATING → TERMINATED.

On SIGTERM:

- before Spark is up, the job stops at once (:class:`Terminated` is raised in the main thread);
- once Spark is up, the running Spark jobs are cancelled (from another thread: the main thread
  is blocked in the Spark call, which then fails), and the runner's checkpoints
  (:func:`checkpoint`) stop it between steps, so nothing new starts and nothing is published;
  the runner aborts the sink (staging removed) and the process exits with 143 (128 + SIGTERM).

Under ``spark-submit`` the signal reaches the JVM, not this Python process: on Kubernetes the
container's PID 1 (tini) forwards it to spark-submit only, whose default reaction is to exit at
once, leaving the Python driver without a JVM (no cancel, no cleanup, no TERMINATED line).
:meth:`Lifecycle.forward_jvm_sigterm` therefore replaces the JVM's SIGTERM handler by one that
sends SIGTERM to this process, so both paths end the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from spark_job.run.events import emit

log = logging.getLogger(__name__)

EXIT_TERMINATED = 143
#: After SIGTERM, how long cleanup may take before the process exits anyway. Kubernetes
#: kills a pod 30 s (its default terminationGracePeriodSeconds) after SIGTERM.
TERMINATION_GRACE_SECONDS = 25.0
#: How long a stopping job waits for killed tasks to end before removing staging.
TASK_DRAIN_SECONDS = 10.0

_TERMINATING = threading.Event()


class Terminated(BaseException):  # noqa: N818 - a state, like KeyboardInterrupt
    """Raised in the main thread when the job must stop because of SIGTERM."""


def terminating() -> bool:
    """True once this process received SIGTERM."""
    return _TERMINATING.is_set()


def checkpoint() -> None:
    """Raise :class:`Terminated` if SIGTERM arrived: call between steps of the job."""
    if _TERMINATING.is_set():
        raise Terminated("stopped by SIGTERM")


class _JvmSignalForwarder:
    """A ``sun.misc.SignalHandler`` for the JVM, implemented here through Py4J callbacks."""

    def handle(self, jvm_signal: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    class Java:
        implements = ["sun.misc.SignalHandler"]


class Lifecycle:
    """States on stdout and the SIGTERM procedure of one job run."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self._on_terminate: list[Callable[[], None]] = []
        self._restore_jvm: Callable[[], None] | None = None
        self._final_state_written = threading.Event()

    def state(self, name: str, **fields: object) -> None:
        if name in ("COMPLETED", "FAILED", "TERMINATED"):
            if self._final_state_written.is_set():
                return
            self._final_state_written.set()
        emit(name, self.job_name, **fields)

    def on_terminate(self, action: Callable[[], None]) -> None:
        """Run ``action`` (in a thread of its own) when SIGTERM arrives, e.g. cancel Spark jobs."""
        self._on_terminate.append(action)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if _TERMINATING.is_set():
            return
        _TERMINATING.set()
        self.state("TERMINATING", signal="SIGTERM")
        watchdog = threading.Timer(TERMINATION_GRACE_SECONDS, self._give_up)
        watchdog.daemon = True
        watchdog.start()
        if not self._on_terminate:  # Spark is not up: nothing to cancel or clean
            raise Terminated("stopped by SIGTERM")
        for action in self._on_terminate:  # off the main thread, which may be in a Spark call
            threading.Thread(target=action, name="spark_job-terminate", daemon=True).start()

    def _give_up(self) -> None:
        self.state("TERMINATED", error=f"cleanup took over {TERMINATION_GRACE_SECONDS:.0f} s")
        os._exit(EXIT_TERMINATED)

    def install(self) -> None:
        """Handle SIGTERM in this process (call from the main thread)."""
        signal.signal(signal.SIGTERM, self._handle)

    def forward_jvm_sigterm(self, spark: Any) -> None:
        """Make the JVM hand SIGTERM to this process instead of exiting (see the module doc).

        Best effort: without it SIGTERM sent to the JVM keeps Spark's own behaviour.
        """
        try:
            from pyspark.java_gateway import ensure_callback_server_started

            context = spark.sparkContext
            gateway = context._gateway  # noqa: SLF001 - Py4J's gateway has no public accessor
            ensure_callback_server_started(gateway)
            jvm = context._jvm  # noqa: SLF001
            term = jvm.sun.misc.Signal("TERM")
            previous = jvm.sun.misc.Signal.handle(term, _JvmSignalForwarder())
            self._restore_jvm = lambda: jvm.sun.misc.Signal.handle(term, previous)
        except Exception as error:
            log.warning("SIGTERM sent to the JVM will not reach the job: %s", error)

    def restore_jvm_sigterm(self) -> None:
        """Give the JVM its own SIGTERM handler back (before the SparkSession stops)."""
        if self._restore_jvm is not None:
            try:
                self._restore_jvm()
            except Exception as error:  # the JVM is going away anyway
                log.debug("could not restore the JVM's SIGTERM handler: %s", error)
            self._restore_jvm = None


def running_tasks(context: Any) -> int:
    """Tasks running on the application's executors (Spark's status tracker)."""
    tracker = context._jsc.sc().statusTracker()  # noqa: SLF001 - executor infos are JVM-only
    return sum(int(info.numRunningTasks()) for info in tracker.getExecutorInfos())


def wait_for_tasks_to_end(context: Any, timeout: float = TASK_DRAIN_SECONDS) -> bool:
    """Wait until no task runs (killed tasks take a moment to stop); False on timeout.

    Called before removing staging, so that no task of a cancelled job writes there after.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if running_tasks(context) == 0:
                return True
        except Exception:  # the context is stopped: no task runs
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
