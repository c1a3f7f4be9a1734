"""Whether an output would be written over an input: where data lives, compared by path.

A :class:`Location` is a store — ``""`` for the local disk, ``gs://bucket``,
``bigquery:project.dataset`` — and a ``/``-separated path in it, normalised: local paths
absolute with symlinks resolved, ``file://`` dropped, no trailing slash. An input ending in a
wildcard (``dir/*``, ``prefix*``) stands for everything its prefix could match: ``path`` is
then the prefix's folder and ``start`` what the matched names start with (``""`` for
``dir/*``).

>>> overlap(output_location("/data/in"), input_location("/data/in/*"))
'is'
>>> overlap(output_location("/data/input"), input_location("/data/in")) is None
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

from spark_job.storage import gcs

#: Characters that make a local or gs:// input a pattern (only a trailing ``*`` is read; any
#: is taken here as the end of the prefix, which can only widen what counts as the input).
WILDCARDS = "*?["


@dataclass(frozen=True)
class Location:
    store: str
    path: str
    start: str | None = None  # a wildcard input: the names in ``path`` starting with this

    @property
    def kind(self) -> str:
        """``file``, ``gs`` or ``bigquery``: stores of one kind are compared."""
        return self.store.split(":", 1)[0] if self.store else "file"


@dataclass(frozen=True)
class Place:
    """A location as the spec names it: ``field`` (``gcsSource.uris[1]``), ``shown`` (what the
    user wrote, or ``table p.d.t``), and ``through`` (a view read to get there, if any)."""

    field: str
    shown: str
    location: Location
    through: str | None = None


def _local(uri: str) -> str:
    path = urlparse(uri).path if uri.startswith("file://") else uri
    return os.path.abspath(os.path.expanduser(path))


def _wildcard_at(text: str) -> int:
    found = [i for i in (text.find(c) for c in WILDCARDS) if i >= 0]
    return min(found) if found else -1


def _split(store: str, path: str, resolve: bool) -> Location:
    """``path`` (no scheme), with its wildcard, if any, as ``start``."""
    at = _wildcard_at(path)
    if at < 0:
        name = os.path.realpath(path) if resolve else path
        return Location(store, name.rstrip("/"))
    folder, _, start = path[:at].rpartition("/")
    if resolve:
        folder = os.path.realpath(folder or "/")
    return Location(store, folder.rstrip("/"), start)


def input_location(uri: str) -> Location:
    """Where the input ``uri`` (a ``gcsSource`` entry) reads: a path, ``file://`` or gs://."""
    if gcs.is_gcs(uri):
        path = gcs.parse(uri)
        return _split(f"gs://{path.bucket}", path.name, resolve=False)
    return _split("", _local(uri), resolve=True)


def output_location(uri: str) -> Location:
    """Where the output ``uri`` (a file sink's folder) is written."""
    if gcs.is_gcs(uri):
        path = gcs.parse(uri)
        return Location(f"gs://{path.bucket}", path.name.strip("/"))
    return Location("", os.path.realpath(_local(uri)).rstrip("/"))


def _inside(inner: str, outer: str) -> bool:
    """``inner`` strictly below ``outer`` (``""``: the root of the store)."""
    return inner != outer and (not outer or inner.startswith(outer + "/"))


def overlap(output: Location, source: Location) -> str | None:
    """How writing ``output`` meets the input ``source``: ``is``, ``contains``, ``lies
    inside`` (words for a message), or None when they are apart."""
    if output.store != source.store:
        return None
    out, src = output.path, source.path
    if source.start is None:
        if out == src:
            return "is"
        if _inside(src, out):
            return "contains"
        return "lies inside" if _inside(out, src) else None
    if out == src:  # the wildcard's folder: its files are the input
        return "is" if not source.start else "contains"
    if _inside(src, out):
        return "contains"
    if _inside(out, src):
        first = out[len(src) :].lstrip("/").split("/")[0]
        return "lies inside" if first.startswith(source.start) else None
    return None
