"""Decoding one input file into instances, per format, with a line (or record) number each.

Every reader yields ``(number, instance)`` or ``(number, Problem)``: numbers are 1-based lines
for JSON and CSV, 1-based record indexes for TFRecord and Avro. A Problem is a line or record
that cannot be decoded; a ``fatal`` one ends the file (the rest cannot be located).

Instances are ``dict``s of column values, or for JSON a ``list`` (an unnamed feature vector,
whose columns are named ``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from spark_job.formats import tfrecord
from spark_job.spec import CsvReadOptions, FileFormat, FileReadOptions
from spark_job.spec.options import csv_read_options

#: The error kind of an instance that cannot be decoded (see spark_job/scoring/row_errors.py).
UNPARSEABLE = "UNPARSEABLE"

#: What a corrupt gzip stream raises (network errors are not among them: they fail the task).
DECOMPRESSION_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@dataclass(frozen=True)
class Problem:
    """``raw``: the text of the line or record, when the reader has it (for error records)."""

    kind: str
    message: str
    fatal: bool = False
    raw: str | None = None


Item = tuple[int, Any]

#: A source's options: typed (``GcsSource.typed_options``, or just their CSV part), or as
#: written in the spec (then typed here by the spec's schema).
ReadOptions = FileReadOptions | CsvReadOptions | Mapping[str, str]


#: How CSV text is split into fields: the typed ``gcsSource.options`` of the CSV reader.
CsvDialect = CsvReadOptions


def csv_dialect(options: ReadOptions) -> CsvDialect:
    """The CSV dialect of a source's options (typed, their CSV part, or as written)."""
    if isinstance(options, FileReadOptions):
        return options.csv
    if isinstance(options, Mapping):
        return csv_read_options(options)
    return options


def _line_text(raw: bytes) -> str:
    """A line as text for an error record (bytes that are not UTF-8 replaced)."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def read_json(stream: IO[bytes]) -> Iterator[Item]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except UnicodeDecodeError as error:
            text = _line_text(raw)
            yield number, Problem(UNPARSEABLE, f"not UTF-8 text: {error.reason}", raw=text)
            continue
        except ValueError as error:
            yield number, Problem(UNPARSEABLE, f"not valid JSON: {error}", raw=_line_text(raw))
            continue
        yield number, value


def read_csv(stream: IO[bytes], dialect: CsvDialect) -> Iterator[Item]:
    """CSV records as dicts of text by column name (``_c0``, ``_c1``, ... without a header)."""
    text = io.TextIOWrapper(stream, encoding=dialect.encoding, newline="")
    reader = csv.reader(
        text,
        delimiter=dialect.sep,
        quotechar=dialect.quote,
        escapechar=dialect.escape,
        doublequote=dialect.escape is None,
        strict=False,
    )
    names: list[str] | None = None
    line = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            yield start, Problem(UNPARSEABLE, f"not {dialect.encoding} text: {error.reason}", True)
            return
        except csv.Error as error:
            yield start, Problem(UNPARSEABLE, f"not valid CSV: {error}")
            continue
        line = start
        if not row:
            continue
        if names is None:
            if dialect.header:
                names = [name.strip() for name in row]
                continue
            names = [f"_c{i}" for i in range(len(row))]
        if len(row) != len(names):
            message = f"has {len(row)} fields but the header has {len(names)}"
            yield line, Problem(UNPARSEABLE, message, raw=dialect.sep.join(row))
            continue
        yield line, dict(zip(names, row, strict=True))


def read_tfrecord(stream: IO[bytes]) -> Iterator[Item]:
    """tf.train.Example records as ``{feature: (kind, values)}``."""
    number = 0
    try:
        for record in tfrecord.iter_records(stream):
            number += 1
            if isinstance(record, tfrecord.RecordError):
                yield number, Problem(UNPARSEABLE, str(record), record.fatal)
                continue
            try:
                yield number, tfrecord.parse_example(record)
            except tfrecord.RecordError as error:
                yield number, Problem(UNPARSEABLE, f"not a tf.train.Example: {error}")
    except DECOMPRESSION_ERRORS as error:
        yield number + 1, Problem(UNPARSEABLE, f"cannot decompress: {error}", fatal=True)


def read_avro(stream: IO[bytes]) -> Iterator[Item]:
    import fastavro

    number = 0
    try:
        for record in fastavro.reader(stream):
            number += 1
            yield number, record
    except Exception as error:  # fastavro raises many kinds for a corrupt block
        message = f"corrupt Avro data: {type(error).__name__}: {error}"
        yield number + 1, Problem(UNPARSEABLE, message, fatal=True)


def iter_items(fmt: FileFormat, stream: IO[bytes], options: ReadOptions) -> Iterator[Item]:
    """The instances of one file of format ``fmt`` (not PARQUET: read as Arrow batches)."""
    if fmt is FileFormat.JSON:
        return read_json(stream)
    if fmt is FileFormat.CSV:
        return read_csv(stream, csv_dialect(options))
    if fmt in (FileFormat.TFRECORD, FileFormat.TFRECORD_GZIP):
        return read_tfrecord(stream)
    if fmt is FileFormat.AVRO:
        return read_avro(stream)
    raise ValueError(f"no record reader for {fmt.value}")
