"""Resumable staging: which staged parts a restarted driver of the same run may reuse.

A run's staging location (a local directory or a ``gs://`` prefix, named from the run id by
each sink) holds, beside the staged parts, a ``_resume/`` folder:

- ``_resume/manifest.json``, written by the driver before any task stages: the key the parts
  are valid for — a fingerprint of the input, the spec and the model
  (:class:`ResumeKey`, built by :mod:`spark_job.run.resume`) and the number of partitions;
- ``_resume/part-<partition>.json``, written by a task once its part is wholly in staging
  (after the upload or move returned): the part's name and rows. A marker therefore always
  names a complete part; a part without a marker (a task killed mid-upload) is never reused.

A driver restarted with the same run id (SIGKILL, OOM, a lost node: nothing of it ran) reads the
manifest: when the key is the same, every marked partition is reused and only the others are
scored; otherwise the markers are dropped and everything is staged again, and the summary says
why. Parts are keyed by partition index, which is sound because the input is split the same way
for the same files and the same partition count (Spark's file packing and its round-robin
repartition, which sorts rows before distributing them, are deterministic).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_job.storage import gcs

RESUME_FOLDER = "_resume"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ResumeKey:
    """What staged parts of an earlier attempt must match to be reused (built on the driver).

    ``refusal`` non-empty: this run cannot reuse anything (and marks nothing), for that reason.
    """

    inputs: str = ""  # digest of the input files (names, sizes, mtimes or generations)
    config: str = ""  # digest of the spec and the model
    described: str = ""  # the input in words, for messages: "3 file(s), 1,234 bytes"
    partitions: int = 0
    refusal: str = ""

    def manifest(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "config": self.config,
            "described": self.described,
            "partitions": self.partitions,
        }

    def mismatch(self, earlier: dict[str, Any]) -> str:
        """Why parts staged under the ``earlier`` manifest cannot be reused ('' if they can)."""
        if earlier.get("inputs") != self.inputs:
            then, now = earlier.get("described", "?"), self.described
            return f"the input changed since the first attempt ({then} then, {now} now)"
        if earlier.get("config") != self.config:
            return "the spec or the model changed since the first attempt"
        if earlier.get("partitions") != self.partitions:
            return (
                f"the input is split into {self.partitions} partitions now,"
                f" {earlier.get('partitions')} then"
            )
        return ""


@dataclass(frozen=True)
class Resumed:
    """What a run reused of an earlier attempt: ``reused`` of ``total`` partitions (``rows``
    in them); ``note`` is for the summary (empty when there was no earlier attempt)."""

    reused: int = 0
    total: int = 0
    rows: int = 0
    note: str = ""


class StagingFolder:
    """The ``_resume/`` folder of a staging location, local or ``gs://`` (driver and tasks)."""

    def __init__(self, location: str, emulator: str | None = None) -> None:
        self.location = location.rstrip("/")
        self.emulator = emulator

    @property
    def remote(self) -> bool:
        return gcs.is_gcs(self.location)

    def _path(self, name: str) -> str:
        return f"{self.location}/{RESUME_FOLDER}/{name}"

    def write(self, name: str, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        if self.remote:
            storage = gcs.client(self.emulator)
            gcs.write_bytes(storage, gcs.parse(self._path(name)), data, "application/json")
            return
        path = Path(self._path(name))
        # not the staging folder itself: a task outliving its driver's publish (whose folder
        # was renamed into the output) must fail here, not make the folder anew
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(f".{name}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # a marker appears whole

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every JSON document of the folder by name (unreadable ones left out)."""
        found: dict[str, bytes] = {}
        if self.remote:
            storage = gcs.client(self.emulator)
            folder = gcs.parse(f"{self.location}/{RESUME_FOLDER}")
            for obj in gcs.list_prefix(storage, folder):
                found[obj.name.rsplit("/", 1)[-1]] = gcs.read_bytes(storage, obj)
        else:
            folder_path = Path(self.location, RESUME_FOLDER)
            if folder_path.is_dir():
                for item in folder_path.iterdir():
                    if item.suffix == ".json" and not item.name.startswith("."):
                        found[item.name] = item.read_bytes()
        documents = {}
        for name, data in found.items():
            try:
                documents[name] = json.loads(data)
            except ValueError:  # cut short: as if absent
                continue
        return documents

    def staged_names(self) -> set[str]:
        """The names of the parts directly in the staging location."""
        if self.remote:
            storage = gcs.client(self.emulator)
            prefix = gcs.parse(self.location)
            start = len(prefix.name.rstrip("/")) + 1
            return {p.name[start:] for p in gcs.list_prefix(storage, prefix)}
        if not os.path.isdir(self.location):
            return set()
        return set(os.listdir(self.location))

    def drop(self) -> None:
        """Remove the folder: no part of this location may be reused any more."""
        if self.remote:
            storage = gcs.client(self.emulator)
            gcs.delete_prefix(storage, gcs.parse(f"{self.location}/{RESUME_FOLDER}"))
        else:
            shutil.rmtree(Path(self.location, RESUME_FOLDER), ignore_errors=True)


def marker_name(part: int) -> str:
    return f"part-{part:05d}.json"


def _refused(key: ResumeKey, reason: str) -> str:
    if key.partitions:
        return f"resumed 0 of {key.partitions} partitions: {reason}"
    return f"nothing resumed: {reason}"


def open_attempt(folder: StagingFolder, key: ResumeKey) -> tuple[dict[int, dict[str, Any]], str]:
    """Driver, before the staging job: the parts of an earlier attempt to reuse (partition →
    ``{"name", "rows", "part"}``) and the note for the summary ('' when no earlier attempt of
    this run staged anything). A stale attempt's markers are dropped, and this attempt's
    manifest is written (also when it reuses nothing, so that a rerun can say why)."""
    documents = folder.documents()
    earlier = documents.pop(MANIFEST, None)
    manifest = {"refusal": key.refusal} if key.refusal else key.manifest()
    if earlier is None:
        folder.write(MANIFEST, manifest)
        return {}, ""
    if key.refusal:
        reason = key.refusal
    elif "refusal" in earlier:
        reason = f"the first attempt staged nothing reusable ({earlier['refusal']})"
    else:
        reason = key.mismatch(earlier)
    if reason:
        folder.drop()
        folder.write(MANIFEST, manifest)
        return {}, _refused(key, reason)
    present = folder.staged_names()
    reused: dict[int, dict[str, Any]] = {}
    for marker in documents.values():
        part = marker.get("part")
        if isinstance(part, int) and 0 <= part < key.partitions and marker.get("name") in present:
            reused[part] = marker
    return reused, f"resumed {len(reused)} of {key.partitions} partitions"
