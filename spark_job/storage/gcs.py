"""Google Cloud Storage from Python: ``gs://`` URIs, wildcard listing, copy, upload, download.

Spark reads ``gs://`` only through the gcs-connector jar, which is not always on the classpath;
this module is what the job uses instead. Clients honour ``STORAGE_EMULATOR_HOST`` (see
:func:`storage_client`). Executors are handed the driver's emulator
host explicitly (:func:`client`), as their environment may lack it.

Wildcards follow Cloud ML Engine's batch prediction: ``gs://b/dir/*`` is every object directly
in ``dir`` (not in sub-folders), ``gs://b/prefix*`` every object whose name starts with
``prefix``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from typing import Any

SCHEME = "gs://"


@dataclass(frozen=True)
class GcsPath:
    """A parsed ``gs://bucket/name`` URI (``name`` may be empty: the bucket root)."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.name}"

    def child(self, relative: str) -> GcsPath:
        base = self.name.rstrip("/")
        return GcsPath(self.bucket, f"{base}/{relative}" if base else relative)


def is_gcs(uri: str) -> bool:
    return uri.startswith(SCHEME)


def parse(uri: str) -> GcsPath:
    """``gs://bucket/a/b`` → ``GcsPath("bucket", "a/b")``; ValueError if not a gs:// URI."""
    if not is_gcs(uri):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    rest = uri[len(SCHEME) :]
    bucket, _, name = rest.partition("/")
    if not bucket:
        raise ValueError(f"gs:// URI without a bucket: {uri!r}")
    return GcsPath(bucket, name)


def emulator_host() -> str | None:
    """The GCS emulator endpoint of this process, to hand to executors."""
    return os.environ.get("STORAGE_EMULATOR_HOST") or None


def client(emulator: str | None = None) -> Any:
    """A storage client; ``emulator`` (default: from the environment) selects an emulator."""
    if emulator and not os.environ.get("STORAGE_EMULATOR_HOST"):
        os.environ["STORAGE_EMULATOR_HOST"] = emulator
    return storage_client()


def has_wildcard(uri: str) -> bool:
    return uri.endswith("*")


def _listed(storage: Any, path: GcsPath, direct_only: bool = False) -> list[tuple[GcsPath, int]]:
    """(object, size) of objects whose name starts with ``path.name``, sorted by name;
    ``direct_only``: not in sub-folders below the prefix (``dir/*``). Folder placeholders
    (names ending in ``/``) are skipped."""
    found: list[tuple[GcsPath, int]] = []
    delimiter = "/" if direct_only else None
    for blob in storage.list_blobs(path.bucket, prefix=path.name or None, delimiter=delimiter):
        name: str = blob.name
        if name.endswith("/"):
            continue
        if direct_only and "/" in name[len(path.name) :]:
            continue
        found.append((GcsPath(path.bucket, name), int(blob.size or 0)))
    return sorted(found, key=lambda item: item[0].name)


def list_objects(storage: Any, path: GcsPath, direct_only: bool = False) -> list[GcsPath]:
    """Objects whose name starts with ``path.name``, sorted; ``direct_only`` excludes names
    with a further ``/`` after the prefix (``dir/*`` semantics). Folder placeholders
    (names ending in ``/``) are skipped."""
    return [p for p, _size in _listed(storage, path, direct_only)]


def expand_sized(storage: Any, uri: str) -> list[tuple[GcsPath, int]]:
    """(object, size) of the objects matched by ``uri``: an exact object, ``dir/*`` or
    ``prefix*``.

    A URI without a wildcard that names a "folder" (other objects start with ``uri/``) matches
    the objects directly inside it, as Spark's readers do for directories.
    """
    path = parse(uri)
    if has_wildcard(uri):
        prefix = path.name[:-1]
        if "*" in prefix:
            raise ValueError(f"only a trailing '*' is supported: {uri!r}")
        return _listed(storage, GcsPath(path.bucket, prefix), direct_only=prefix.endswith("/"))
    if path.name and not path.name.endswith("/"):
        blob = storage.bucket(path.bucket).get_blob(path.name)
        if blob is not None:
            return [(path, int(blob.size or 0))]
    folder = path.name if path.name.endswith("/") or not path.name else path.name + "/"
    return _listed(storage, GcsPath(path.bucket, folder), direct_only=True)


def exists(storage: Any, path: GcsPath) -> bool:
    """True when the object ``path`` exists."""
    return bool(storage.bucket(path.bucket).blob(path.name).exists())


def exists_prefix(storage: Any, path: GcsPath) -> bool:
    """True when any object lies at or under ``path`` (taken as a folder)."""
    prefix = path.name.rstrip("/") + "/" if path.name else ""
    if path.name and storage.bucket(path.bucket).blob(path.name.rstrip("/")).exists():
        return True
    return any(True for _ in storage.list_blobs(path.bucket, prefix=prefix or None, max_results=1))


def list_prefix(storage: Any, path: GcsPath) -> list[GcsPath]:
    """Every object under ``path`` taken as a folder (recursive), sorted."""
    prefix = path.name.rstrip("/") + "/" if path.name else ""
    return list_objects(storage, GcsPath(path.bucket, prefix))


def open_read(storage: Any, path: GcsPath) -> Any:
    """A binary file object reading the object (streamed, in chunks)."""
    return storage.bucket(path.bucket).blob(path.name).open("rb")


def read_bytes(storage: Any, path: GcsPath) -> bytes:
    return storage.bucket(path.bucket).blob(path.name).download_as_bytes()


def _retry() -> Any:
    """google-cloud-storage's retry of 429, 5xx and dropped connections, for the writes below:
    each writes a whole object (or copies one) to a name, so doing it twice is harmless. (The
    client retries them only with a generation precondition, by default.)"""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY


def write_bytes(storage: Any, path: GcsPath, data: bytes, content_type: str | None = None) -> None:
    storage.bucket(path.bucket).blob(path.name).upload_from_string(
        data, content_type=content_type or "application/octet-stream", retry=_retry()
    )


def upload_file(storage: Any, local: str, path: GcsPath) -> None:
    storage.bucket(path.bucket).blob(path.name).upload_from_filename(local, retry=_retry())


def put_file(local: str, location: str, name: str, emulator: str | None = None) -> None:
    """Move the finished local file ``local`` to ``name`` under ``location``: a ``gs://``
    prefix (uploaded; ``emulator`` as :func:`client`) or a local directory (moved)."""
    if is_gcs(location):
        upload_file(client(emulator), local, parse(f"{location.rstrip('/')}/{name}"))
    else:
        shutil.move(local, os.path.join(location, name))


def download_file(storage: Any, path: GcsPath, local: str) -> None:
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    storage.bucket(path.bucket).blob(path.name).download_to_filename(local)


def download_prefix(storage: Any, path: GcsPath, local_dir: str) -> int:
    """Copy every object under ``path`` (as a folder) into ``local_dir``, keeping the
    relative layout; returns the number of files written."""
    prefix = path.name.rstrip("/") + "/" if path.name else ""
    count = 0
    for obj in list_prefix(storage, path):
        relative = obj.name[len(prefix) :]
        download_file(storage, obj, os.path.join(local_dir, *relative.split("/")))
        count += 1
    return count


def upload_dir(storage: Any, local_dir: str, path: GcsPath) -> int:
    """Upload every file under ``local_dir`` below ``path``; returns the number uploaded."""
    count = 0
    for root, _dirs, files in os.walk(local_dir):
        for file in sorted(files):
            local = os.path.join(root, file)
            relative = os.path.relpath(local, local_dir).replace(os.sep, "/")
            upload_file(storage, local, path.child(relative))
            count += 1
    return count


def copy(storage: Any, source: GcsPath, target: GcsPath) -> None:
    bucket = storage.bucket(source.bucket)
    bucket.copy_blob(
        bucket.blob(source.name), storage.bucket(target.bucket), target.name, retry=_retry()
    )


def delete(storage: Any, path: GcsPath) -> None:
    from google.api_core.exceptions import NotFound

    with contextlib.suppress(NotFound):
        storage.bucket(path.bucket).blob(path.name).delete()


def delete_prefix(storage: Any, path: GcsPath) -> int:
    """Delete every object under ``path`` (as a folder); returns the number deleted."""
    objects = list_prefix(storage, path)
    for obj in objects:
        delete(storage, obj)
    return len(objects)


def storage_client(project: str | None = None) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    from spark_job.errors import no_credentials

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials())
    try:
        return storage.Client(project=project)
    except DefaultCredentialsError as error:
        raise no_credentials("Cloud Storage", error) from None
