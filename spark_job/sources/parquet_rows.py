"""Row counts of Parquet inputs from their footers, for progress percent and ETA.

A Parquet file's footer holds its row count, so the total is known before anything is read:
one small read per local file, two ranged reads per ``gs://`` object. Too many remote objects
would make that slow on the driver, so past :data:`MAX_REMOTE_FILES` there is no estimate.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from spark_job import gcs
from spark_job.sources.input_files import InputFile, local_path

log = logging.getLogger(__name__)

MAX_LOCAL_FILES = 10_000
MAX_REMOTE_FILES = 200


def parquet_rows(files: list[InputFile]) -> int | None:
    """The total rows of ``files`` per their footers; None when unknown (or too costly)."""
    remote = [f for f in files if gcs.is_gcs(f.uri)]
    if len(remote) > MAX_REMOTE_FILES or len(files) > MAX_LOCAL_FILES:
        return None
    try:
        total = sum(pq.read_metadata(local_path(f.uri)).num_rows for f in files if f not in remote)
        if remote:
            storage = gcs.client()
            for file in remote:
                with gcs.open_read(storage, gcs.parse(file.uri)) as stream:
                    total += pq.read_metadata(stream).num_rows
    except Exception as error:  # an unreadable footer fails the read later, with its context
        log.info("no row estimate from Parquet footers: %s", error)
        return None
    return total
