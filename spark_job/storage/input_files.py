"""Which files a ``gcsSource`` names, and opening one of them on an executor.

``uri``/``uris`` entries may be a file, a directory (its files), ``dir/*`` (every file directly
in dir) or ``prefix*`` (every file whose name starts with prefix); ``gs://``, local paths and
``file://`` URIs. The driver only lists (names and sizes); it never reads a file.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlparse

from google.api_core import exceptions

from spark_job.errors import UserError
from spark_job.storage import gcs

# Spark's convention: names starting with these are markers or hidden files, never data.
HIDDEN_PREFIXES = ("_", ".")


@dataclass(frozen=True)
class InputFile:
    uri: str  # gs://bucket/name or an absolute local path
    size: int


def local_path(uri: str) -> str:
    """The filesystem path of a local path or ``file://`` URI."""
    if uri.startswith("file://"):
        return urlparse(uri).path
    return uri


def _visible(name: str) -> bool:
    return not os.path.basename(name.rstrip("/")).startswith(HIDDEN_PREFIXES)


def expand_local(uri: str, field: str) -> list[InputFile]:
    """Files named by a local ``uri``: a file, a directory (its files), ``dir/*``, ``prefix*``."""
    path = os.path.abspath(os.path.expanduser(local_path(uri)))
    if os.path.isdir(path):
        path = os.path.join(path, "*")
    if "*" in path[:-1] or "?" in path or "[" in path:
        raise UserError(f"{field}: '{uri}': only a trailing '*' wildcard is supported.")
    if path.endswith("*"):
        prefix = path[:-1]
        folder = os.path.dirname(prefix)
        start = os.path.basename(prefix)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        candidates = [os.path.join(folder, n) for n in names if n.startswith(start)]
    else:
        candidates = glob.glob(glob.escape(path))
    files = [
        InputFile(p, os.path.getsize(p)) for p in candidates if os.path.isfile(p) and _visible(p)
    ]
    if not files:
        raise UserError(f"{field}: no file matches '{uri}'.")
    return files


def expand_gcs(storage: Any, uri: str, field: str) -> list[InputFile]:
    """Objects named by a ``gs://`` ``uri`` (see :func:`spark_job.storage.gcs.expand_sized`)."""
    try:
        found = gcs.expand_sized(storage, uri)
    except ValueError as error:
        raise UserError(f"{field}: {error}") from None
    except exceptions.NotFound:
        bucket = gcs.parse(uri).bucket
        raise UserError(f"{field}: '{uri}': bucket '{bucket}' does not exist.") from None
    except exceptions.Forbidden as error:
        raise UserError(f"{field}: '{uri}': no access: {error.message}") from None
    files = [InputFile(p.uri, size) for p, size in found if _visible(p.name)]
    if not files:
        raise UserError(f"{field}: no object matches '{uri}'.")
    return files


def field_of(base: str, uris: list[str], index: int) -> str:
    return f"{base}.uri" if len(uris) == 1 else f"{base}.uris[{index}]"


def expand_all(uris: list[str], field: str) -> list[InputFile]:
    """Every file named by ``uris`` (in order, without duplicates); UserError naming the
    entry that matches nothing."""
    storage = None
    files: list[InputFile] = []
    seen: set[str] = set()
    for index, uri in enumerate(uris):
        where = field_of(field, uris, index)
        if gcs.is_gcs(uri):
            if storage is None:
                storage = gcs.client()
            matched = expand_gcs(storage, uri, where)
        elif "://" in uri and not uri.startswith("file://"):
            scheme = uri.split("://", 1)[0]
            raise UserError(f"{where}: '{uri}': {scheme}:// is not supported; use gs:// or a path.")
        else:
            matched = expand_local(uri, where)
        for item in matched:
            if item.uri not in seen:
                seen.add(item.uri)
                files.append(item)
    return files


# --------------------------------------------------------------------------- executors

_CLIENTS: dict[str | None, Any] = {}


def _storage(emulator: str | None) -> Any:
    if emulator not in _CLIENTS:
        _CLIENTS[emulator] = gcs.client(emulator)
    return _CLIENTS[emulator]


class _RawAdapter(io.RawIOBase):
    """A raw stream over a buffered-only reader (GCS's BlobReader), so io.BufferedReader can
    give it fast ``readline`` and ``peek``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self.inner.seek(offset, whence))

    def tell(self) -> int:
        return int(self.inner.tell())

    def close(self) -> None:
        self.inner.close()
        super().close()


@contextlib.contextmanager
def open_binary(
    uri: str, emulator: str | None = None, gzipped: bool = False
) -> Iterator[IO[bytes]]:
    """A buffered binary stream of the file's bytes (decompressed when ``gzipped``)."""
    with contextlib.ExitStack() as stack:
        if gcs.is_gcs(uri):
            inner = gcs.open_read(_storage(emulator), gcs.parse(uri))
            raw: IO[bytes] = stack.enter_context(
                io.BufferedReader(_RawAdapter(inner), buffer_size=1 << 20)  # type: ignore[arg-type]
            )
        else:
            raw = stack.enter_context(open(uri, "rb", buffering=1 << 20))
        if gzipped:
            unzipped = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            raw = stack.enter_context(io.BufferedReader(unzipped, 1 << 20))  # type: ignore[arg-type]
        yield raw


def is_gzip_name(uri: str) -> bool:
    return uri.endswith(".gz")
