"""A fingerprint of input files: what a resumed run compares to tell whether its input changed.

Local files: path, size and modification time (ns). ``gs://`` objects: name, size and
generation (a new generation for every write of an object, even of the same bytes). The
listing is the one the source reads (:func:`spark_job.storage.input_files.expand_all`), so a
file added, removed, rewritten or grown changes the fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from spark_job.storage import gcs
from spark_job.storage.input_files import InputFile, expand_all


@dataclass(frozen=True)
class FilesFingerprint:
    digest: str
    files: int
    size: int

    def describe(self) -> str:
        return f"{self.files} file(s), {self.size:,} bytes"


def _generations(storage: Any, files: list[InputFile]) -> dict[str, int]:
    """``gs://`` URI → generation, listing each folder of ``files`` once."""
    folders: dict[tuple[str, str], None] = {}
    for item in files:
        path = gcs.parse(item.uri)
        folders[(path.bucket, path.name.rpartition("/")[0])] = None
    found: dict[str, int] = {}
    for bucket, folder in folders:
        prefix = f"{folder}/" if folder else None
        for blob in storage.list_blobs(bucket, prefix=prefix):
            found[f"gs://{bucket}/{blob.name}"] = int(blob.generation or 0)
    return found


def files_fingerprint(uris: list[str], field: str) -> FilesFingerprint:
    """The fingerprint of the files ``uris`` name (UserError naming ``field`` when none match,
    as reading would)."""
    files = expand_all(uris, field)
    remote = [f for f in files if gcs.is_gcs(f.uri)]
    generations = _generations(gcs.client(), remote) if remote else {}
    digest = hashlib.sha256()
    for item in files:
        if gcs.is_gcs(item.uri):
            version = generations.get(item.uri, 0)
        else:
            version = os.stat(item.uri).st_mtime_ns
        digest.update(f"{item.uri}\0{item.size}\0{version}\n".encode())
    return FilesFingerprint(digest.hexdigest(), len(files), sum(f.size for f in files))
