"""Progress while predicting: rows done, rows/s, and percent and ETA when the total is known.

A daemon thread on the driver reads the rows-predicted accumulator (Spark adds a task's rows
when the task finishes, so rows advance task by task) and Spark's status tracker (tasks done of
the active stages), and reports at most once every ``interval`` seconds: a JSON line on stdout
(``{"event": "progress", ...}``, for log collectors), or a live bar redrawn in place when the
console is a terminal (``--log-format human``; see :mod:`spark_job.run.console`), drawn a last
time when predicting ends. Both carry the failed instances so far when the run counts them.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from pyspark import SparkContext

from spark_job.run.console import current

BAR_WIDTH = 30


def describe(
    rows: int, elapsed: float, total: int | None, tasks: tuple[int, int], failed: int | None = None
) -> dict[str, Any]:
    """The progress record: ``percent`` and ``eta_s`` only when ``total`` is known, ``failed``
    when given."""
    rate = rows / elapsed if elapsed > 0 else 0.0
    line: dict[str, Any] = {
        "event": "progress",
        "rows": rows,
        "rows_per_s": round(rate, 1),
        "tasks_done": tasks[0],
        "tasks": tasks[1],
        "elapsed_s": round(elapsed, 1),
    }
    if failed is not None:
        line["failed"] = failed
    if total:
        line["percent"] = round(min(100.0, 100.0 * rows / total), 1)
        if rate > 0:
            line["eta_s"] = round(max(0.0, (total - rows) / rate), 1)
    return line


def render_bar(record: dict[str, Any]) -> str:
    """One terminal line for ``record``: a bar when the percentage is known."""
    text = f"{record['rows']:,} rows  {record['rows_per_s']:,.0f} rows/s"
    text += f"  tasks {record['tasks_done']}/{record['tasks']}"
    if "failed" in record:
        text += f"  {record['failed']:,} failed"
    if "percent" in record:
        filled = int(BAR_WIDTH * record["percent"] / 100)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"[{bar}] {record['percent']:5.1f}%  " + text
        if "eta_s" in record:
            text += f"  ETA {record['eta_s']:.0f}s"
    return text


class ProgressReporter:
    """Reports progress while the ``with`` block runs; ``interval`` 0 reports nothing.

    ``live`` (a bar redrawn in place) defaults to the console's format; ``failed`` reads the
    failed instances so far."""

    def __init__(
        self,
        context: SparkContext,
        rows_done: Any,
        total_rows: int | Callable[[], int | None] | None,
        interval: float,
        out: TextIO | None = None,
        live: bool | None = None,
        failed: Callable[[], int] | None = None,
    ) -> None:
        self.context = context
        self.rows_done = rows_done
        self.total_rows = total_rows
        self.interval = interval
        self.out = out or sys.stdout
        if live is None:
            live = current().human if out is None else self._is_terminal(out)
        self.live = live
        self.failed = failed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spark_job-progress", daemon=True)
        self._started = 0.0
        self._drawn = False
        self._tasks_seen = 0

    @staticmethod
    def _is_terminal(out: TextIO) -> bool:
        try:
            return out.isatty()
        except (AttributeError, ValueError):
            return False

    def _tasks(self) -> tuple[int, int]:
        tracker = self.context.statusTracker()
        done = total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        if total:
            self._tasks_seen = total
        return done, total

    def snapshot(self) -> dict[str, Any]:
        total = self.total_rows() if callable(self.total_rows) else self.total_rows
        failed = self.failed() if self.failed is not None else None
        return describe(
            int(self.rows_done.value), time.monotonic() - self._started, total, self._tasks(),
            failed,
        )  # fmt: skip

    def _report(self, record: dict[str, Any]) -> None:
        if self.live:
            self.out.write("\r\x1b[2K" + render_bar(record))
            self._drawn = True
        else:
            self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                record = self.snapshot()
            except Exception:  # the context is stopping: no more progress to tell
                return
            self._report(record)

    def __enter__(self) -> ProgressReporter:
        self._started = time.monotonic()
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.live and self.interval > 0 and exc[0] is None:  # the bar as predicting ended
            with contextlib.suppress(Exception):  # the context is stopping
                record = self.snapshot()
                if not record["tasks"]:  # the stage ended: every task of it is done
                    record.update(tasks_done=self._tasks_seen, tasks=self._tasks_seen)
                self._report(record)
        if self._drawn:  # leave the last bar on its own line
            self.out.write("\n")
            self.out.flush()
