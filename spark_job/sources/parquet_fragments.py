"""Parquet read by the scoring tasks themselves: each task reads its byte ranges of the input
files with pyarrow, scores and writes, as one process would — no JVM decoding of the rows and
no JVM → Python transfer.

The driver plans from the listing alone (file sizes; it opens no file): every file is cut into
byte ranges of about ``split`` bytes and the ranges are packed into at least one partition per
core. A task reads the row groups whose middle byte lies in its range — Spark's own rule for
splitting Parquet files — so every row group is read by exactly one task, whatever the
row-group layout. The job then maps a tiny frame of one row per partition
(``spark.range(n, numPartitions=n)``), and the task turns its row into the record batches of
its ranges (:class:`ParquetTaskRead`), typed as the input frame declares them.

Used for PARQUET inputs whose columns pyarrow and Spark read alike (see :func:`plain_arrow`),
unless a Spark reader option asks for Spark's reader. When the model's signature needs a cast,
the same read runs inside ``mapInArrow`` and Spark casts its rows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_type, to_arrow_type
from pyspark.sql.types import StructField, StructType

from spark_job.scoring.row_errors import ORIGIN_FILE, ORIGIN_LINE, BadInputError
from spark_job.storage import gcs
from spark_job.storage.input_files import InputFile, local_path, open_binary

_PLAIN_CHECKS = (
    pa.types.is_boolean,
    pa.types.is_signed_integer,
    pa.types.is_float32,
    pa.types.is_float64,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
)
#: The least bytes per range: smaller ones cost more in opening files than they spread work.
MIN_SPLIT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Fragment:
    """Bytes ``[start, end)`` of input file ``file`` (an index into the plan's files); of each
    of their row groups, slice ``part`` of ``parts`` of its rows (an input of fewer ranges
    than cores is spread by rows: every core scores, and nothing is shuffled)."""

    file: int
    start: int
    end: int
    part: int = 0
    parts: int = 1

    @property
    def size(self) -> int:
        return (self.end - self.start) // self.parts


def balance(sizes: list[int], count: int) -> list[list[int]]:
    """Indexes of ``sizes`` spread over at most ``count`` groups, largest first onto the least
    loaded group; each group sorted, empty groups dropped."""
    count = max(1, min(len(sizes), count))
    heap = [(0, i) for i in range(count)]
    groups: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        load, slot = heapq.heappop(heap)
        groups[slot].append(index)
        heapq.heappush(heap, (load + max(sizes[index], 1), slot))
    return [sorted(group) for group in groups if group]


def plan_fragments(files: list[InputFile], cores: int, max_bytes: int) -> list[list[Fragment]]:
    """The fragments each task reads: ranges of about ``min(max_bytes, total / cores)`` bytes
    (at least :data:`MIN_SPLIT_BYTES`), at least ``cores`` tasks when the input has that many
    ranges."""
    total = sum(f.size for f in files)
    split = max(MIN_SPLIT_BYTES, min(max_bytes, math.ceil(total / max(1, cores))))
    fragments = [
        Fragment(index, start, min(start + split, f.size))
        for index, f in enumerate(files)
        for start in range(0, f.size, split)  # an empty file is no Parquet file: no rows
    ]
    if 0 < len(fragments) < cores:
        parts = math.ceil(cores / len(fragments))
        fragments = [replace(f, part=k, parts=parts) for f in fragments for k in range(parts)]
    sizes = [f.size for f in fragments]
    wanted = max(cores, math.ceil(total / split))
    return [[fragments[i] for i in group] for group in balance(sizes, wanted)]


def plain_arrow(dtype: pa.DataType) -> bool:
    """Whether pyarrow's reader and Spark's Parquet reader give values of ``dtype`` alike:
    booleans, signed integers, 32- and 64-bit floats, strings and binaries (not dates,
    timestamps, decimals, unsigned or nested types: Spark's reader reads those its own way)."""
    return any(check(dtype) for check in _PLAIN_CHECKS)


def footer_schema(uri: str, emulator: str | None) -> pa.Schema | None:
    """The Arrow schema in ``uri``'s footer; None when it cannot be read."""
    import pyarrow.parquet as pq

    try:
        if gcs.is_gcs(uri):
            with open_binary(uri, emulator) as stream:
                return pq.read_schema(stream)
        return pq.read_schema(local_path(uri))
    except Exception:  # Spark's reader reports it, as before
        return None


def _row_group_middle(meta: Any, group: int) -> int:
    row_group = meta.row_group(group)
    starts, ends = [], []
    for column in range(row_group.num_columns):
        chunk = row_group.column(column)
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
            start = min(start, chunk.dictionary_page_offset)
        starts.append(start)
        ends.append(start + chunk.total_compressed_size)
    return (min(starts) + max(ends)) // 2 if starts else 0


@dataclass(frozen=True)
class ParquetTaskRead:
    """What a task reads, given its partition numbers: picklable, built once on the driver.

    ``schema`` is the data columns to produce, in order, as Arrow types; ``origin`` adds the
    hidden origin columns (file index and row number in the file, from 1) after them.
    """

    files: list[str]
    groups: list[list[Fragment]]
    schema: pa.Schema
    origin: bool
    batch_rows: int
    field: str
    emulator: str | None = None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for part in batch.column(0).to_pylist():
                for fragment in self.groups[part]:
                    yield from self.read(fragment)

    @property
    def output_schema(self) -> pa.Schema:
        if not self.origin:
            return self.schema
        return self.schema.append(pa.field(ORIGIN_FILE, pa.int32())).append(
            pa.field(ORIGIN_LINE, pa.int64())
        )

    @property
    def spark_schema(self) -> StructType:
        """The Spark schema of :attr:`output_schema` (every column nullable, as Spark's
        file sources make them)."""
        return StructType(
            [StructField(f.name, from_arrow_type(f.type), True) for f in self.output_schema]
        )

    def read(self, fragment: Fragment) -> Iterator[pa.RecordBatch]:
        """The row groups of ``fragment`` as batches of :attr:`output_schema`."""
        uri = self.files[fragment.file]
        try:
            if gcs.is_gcs(uri):
                with open_binary(uri, self.emulator) as stream:
                    yield from self._batches(stream, fragment)
            else:
                yield from self._batches(local_path(uri), fragment)
        except (pa.ArrowInvalid, OSError) as error:
            # pyarrow's own errors (a corrupt file, a column that does not convert, a file
            # gone) are the input's; a storage client's (requests, google-auth) are not
            if isinstance(error, OSError) and type(error).__module__ != "builtins":
                raise
            raise BadInputError(f"{self.field}: {uri} cannot be read as Parquet: {error}") from None

    def _batches(self, source: Any, fragment: Fragment) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        first_rows, mine, rows = [], [], 0
        for group in range(meta.num_row_groups):
            first_rows.append(rows + 1)
            rows += meta.row_group(group).num_rows
            if fragment.start <= _row_group_middle(meta, group) < fragment.end:
                mine.append(group)
        if not mine:
            return
        present = set(parquet.schema_arrow.names)
        wanted = [name for name in self.schema.names if name in present]
        contiguous = mine == list(range(mine[0], mine[-1] + 1))
        whole = fragment.parts == 1
        groups = [mine] if contiguous and whole else [[g] for g in mine]
        for chunk in groups:
            keep = (0, rows)
            if not whole:  # this slice of the row group's rows
                count = meta.row_group(chunk[0]).num_rows
                keep = (count * fragment.part // fragment.parts,
                        count * (fragment.part + 1) // fragment.parts)  # fmt: skip
            offset = 0
            for data in parquet.iter_batches(self.batch_rows, row_groups=chunk, columns=wanted):
                begin, offset = offset, offset + data.num_rows
                low, high = max(keep[0], begin), min(keep[1], offset)
                if high <= low:
                    continue
                if (low, high) != (begin, offset):
                    data = data.slice(low - begin, high - low)
                count = data.num_rows
                line = first_rows[chunk[0]] + low
                arrays = [
                    data.column(f.name).cast(f.type) if f.name in present
                    else pa.nulls(count, f.type)
                    for f in self.schema
                ]  # fmt: skip
                if self.origin:
                    arrays.append(pa.array(np.full(count, fragment.file, np.int32)))
                    arrays.append(pa.array(np.arange(line, line + count, dtype=np.int64)))
                yield pa.RecordBatch.from_arrays(arrays, schema=self.output_schema)


def task_read(
    files: list[InputFile],
    fields: list[pa.Field],
    cores: int,
    max_bytes: int,
    batch_rows: int,
    field: str,
    origin: bool = False,
) -> ParquetTaskRead:
    """How tasks read the columns ``fields`` (as found in a footer) of ``files``, as Spark's
    Arrow types of those columns (``origin``: with the origin columns, file and row)."""
    schema = pa.schema([pa.field(f.name, to_arrow_type(from_arrow_type(f.type))) for f in fields])
    groups = plan_fragments(files, cores, max_bytes)
    uris = [f.uri for f in files]
    return ParquetTaskRead(uris, groups, schema, origin, batch_rows, field, gcs.emulator_host())
