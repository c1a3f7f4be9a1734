"""Row counts of Parquet inputs from their footers, for progress percent and ETA (and NULL
counts, for the model's signature check).

A Parquet file's footer holds its row count, so the total is known before the rows are read.
The footers are read on executors, as every input file is (the driver opens none): a small
Spark job in a background thread, started when the input is planned, so it takes task slots
just before the job's own tasks. Progress shows rows without a percent until it answers, and
for good if it fails (an unreadable file fails the read itself, with its context).
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid

from pyspark.sql import SparkSession

from spark_job.storage.input_files import InputFile, open_binary

log = logging.getLogger(__name__)

#: Past this many files, no count: its tasks would delay the job's own for a progress bar.
MAX_FILES = 10_000
#: Footers read to find NULLs the model's signature cannot take (the job waits for them).
NULL_CHECK_FILES = 64


def footer_rows(emulator: str | None, uri: str) -> int | None:
    """The row count in ``uri``'s footer; None when it cannot be read. Runs on executors."""
    import pyarrow.parquet as pq

    try:
        with open_binary(uri, emulator) as stream:
            return int(pq.read_metadata(stream).num_rows)
    except Exception:  # not a task failure: the read reports the file, with its context
        return None


def footer_nulls(emulator: str | None, names: list[str], uri: str) -> dict[str, int]:
    """The NULL counts of top-level columns ``names`` in ``uri``'s footer statistics, for the
    columns every row group has them for (none when the footer cannot be read). Executors."""
    import pyarrow.parquet as pq

    try:
        with open_binary(uri, emulator) as stream:
            meta = pq.read_metadata(stream)
    except Exception:  # the read reports an unreadable file, with its context
        return {}
    columns = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    counts: dict[str, int] = {}
    for name in names:
        index = columns.get(name)
        if index is None:
            continue
        total = 0
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is None or not stats.has_null_count:
                break
            total += int(stats.null_count)
        else:
            counts[name] = total
    return counts


def columns_with_nulls(
    spark: SparkSession, files: list[InputFile], names: list[str], emulator: str | None
) -> set[str]:
    """Which of ``names`` hold a NULL in some file, by the footers' statistics: a small Spark
    job on executors over at most :data:`NULL_CHECK_FILES` of the files, spread over the
    input (evidence only: a NULL elsewhere is found while scoring)."""
    if not names or not files:
        return set()
    context = spark.sparkContext
    step = max(1, len(files) // NULL_CHECK_FILES)
    uris = [f.uri for f in files[::step][:NULL_CHECK_FILES]]
    slices = max(1, min(len(uris), context.defaultParallelism))
    found = context.parallelize(uris, slices).map(
        functools.partial(footer_nulls, emulator, list(names))
    )
    return {name for counts in found.collect() for name, n in counts.items() if n > 0}


def total_rows(counts: list[int | None]) -> int | None:
    """The sum of ``counts``; None when any file's count is unknown."""
    return None if any(count is None for count in counts) else sum(counts)  # type: ignore[arg-type]


class FooterRowCount:
    """Sums the inputs' footer row counts on executors, in a background thread."""

    def __init__(self, spark: SparkSession, files: list[InputFile], emulator: str | None) -> None:
        self._context = spark.sparkContext
        self._group = f"spark_job-rowcount-{uuid.uuid4().hex[:8]}"
        self._total: int | None = None
        uris = [f.uri for f in files]
        slices = max(1, min(len(uris), self._context.defaultParallelism))
        # Built in the caller's thread, so that its tasks carry the caller's worker environment.
        self._counts = self._context.parallelize(uris, slices).map(
            functools.partial(footer_rows, emulator)
        )
        self._thread = threading.Thread(target=self._run, name=self._group, daemon=True)
        self._skip = len(uris) > MAX_FILES

    def _run(self) -> None:
        self._context.setJobGroup(self._group, "spark_job: row counts from Parquet footers")
        try:
            self._total = total_rows(self._counts.collect())
        except Exception as error:  # cancelled, or the context stopped: no percent
            log.info("no row estimate from Parquet footers: %s", error)

    def start(self) -> FooterRowCount:
        if not self._skip:
            self._thread.start()
        return self

    def result(self) -> int | None:
        """The total once counted; None before, or when unknown."""
        return None if self._thread.is_alive() else self._total

    def wait(self, timeout: float) -> int | None:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return self.result()

    def stop(self) -> None:
        """Cancel the count if it still runs."""
        if self._thread.is_alive():
            self._context.cancelJobGroup(self._group)
            self._thread.join(timeout=30)
