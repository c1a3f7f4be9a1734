"""Progress lines while predicting: rows done, rows/s, and percent and ETA when the total is known.

A daemon thread on the driver reads the rows-predicted accumulator (updated as tasks finish) and
Spark's status tracker (tasks done of the active stages), and prints at most one line every
``interval`` seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from pyspark import SparkContext


def describe(
    rows: int, elapsed: float, total: int | None, tasks: tuple[int, int]
) -> dict[str, Any]:
    rate = rows / elapsed if elapsed > 0 else 0.0
    line: dict[str, Any] = {
        "event": "progress",
        "rows": rows,
        "rows_per_s": round(rate, 1),
        "tasks_done": tasks[0],
        "tasks": tasks[1],
        "elapsed_s": round(elapsed, 1),
    }
    if total:
        line["percent"] = round(min(100.0, 100.0 * rows / total), 1)
        if rate > 0:
            line["eta_s"] = round(max(0.0, (total - rows) / rate), 1)
    return line


class ProgressReporter:
    def __init__(
        self,
        context: SparkContext,
        rows_done: Any,
        total_rows: int | None,
        interval: float,
    ) -> None:
        self.context = context
        self.rows_done = rows_done
        self.total_rows = total_rows
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spark_job-progress", daemon=True)
        self._started = 0.0

    def _tasks(self) -> tuple[int, int]:
        tracker = self.context.statusTracker()
        done = total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        return done, total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                line = describe(
                    int(self.rows_done.value),
                    time.monotonic() - self._started,
                    self.total_rows,
                    self._tasks(),
                )
            except Exception:  # the context is stopping: no more progress to tell
                return
            print(json.dumps(line), file=sys.stdout, flush=True)

    def __enter__(self) -> ProgressReporter:
        self._started = time.monotonic()
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
