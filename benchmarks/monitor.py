"""Watching a contender's process tree: peak RSS and CPU seconds (JVM and Python apart).

A sampler thread walks the tree every ``interval`` seconds. CPU time is kept per process (the
last value seen), so processes that end before the contender (Spark's Python workers) still
count; the last ``interval`` of a process's life may be missed. CPU seconds are much less
sensitive than wall time to other load on the machine, which makes them the better guide
when the machine is busy.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import psutil


@dataclass
class TreeUsage:
    peak_rss: int = 0
    cpu_by_pid: dict[int, tuple[str, float]] = field(default_factory=dict)

    def cpu_seconds(self, kind: str | None = None) -> float:
        return sum(cpu for k, cpu in self.cpu_by_pid.values() if kind is None or k == kind)


def _kind(process: psutil.Process) -> str:
    name = process.name().lower()
    if "java" in name:
        return "jvm"
    if "python" in name:
        return "python"
    return "other"


class TreeMonitor:
    """Context manager sampling the tree rooted at ``pid`` until exit."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.usage = TreeUsage()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _sample(self) -> None:
        members = [self.root]
        with contextlib.suppress(psutil.Error):
            members += self.root.children(recursive=True)
        rss = 0
        for member in members:
            with contextlib.suppress(psutil.Error), member.oneshot():
                rss += member.memory_info().rss
                times = member.cpu_times()
                cpu = times.user + times.system
                self.usage.cpu_by_pid[member.pid] = (_kind(member), cpu)
        self.usage.peak_rss = max(self.usage.peak_rss, rss)

    def _watch(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeMonitor:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
