"""The job's states and what SIGTERM does.

States, one JSON line each on stdout: PENDING → RUNNING → COMPLETED | FAILED, or on SIGTERM
(what Kubernetes sends when a user stops the job) TERMINATING → TERMINATED. On SIGTERM the
running Spark jobs are cancelled; the runner then aborts the sink (staging is removed, nothing
is published) and the process exits with 143 (128 + SIGTERM).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from spark_job.events import emit

EXIT_TERMINATED = 143
#: After SIGTERM, how long cleanup may take before the process exits anyway.
TERMINATION_GRACE_SECONDS = 60.0


class Lifecycle:
    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.terminating = threading.Event()
        self._on_terminate: list[Callable[[], None]] = []

    def state(self, name: str, **fields: object) -> None:
        emit(name, self.job_name, **fields)

    def on_terminate(self, action: Callable[[], None]) -> None:
        self._on_terminate.append(action)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.terminating.is_set():
            return
        self.terminating.set()
        self.state("TERMINATING", signal="SIGTERM")
        watchdog = threading.Timer(TERMINATION_GRACE_SECONDS, os._exit, args=(EXIT_TERMINATED,))
        watchdog.daemon = True
        watchdog.start()
        for action in self._on_terminate:  # e.g. cancel Spark jobs; off the main thread
            threading.Thread(target=action, daemon=True).start()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
