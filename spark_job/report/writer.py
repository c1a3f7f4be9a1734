"""Where the report goes, writing it, and reading a reference report (local or ``gs://``).

- ``report.path`` given: ``report.json`` and ``report.html`` in that folder (any sink);
- else, for a file sink: ``_report.json`` and ``_report.html`` beside the results, in the output
  folder. The leading ``_`` marks them as no data for Spark's and pyarrow's readers (as
  ``_SUCCESS`` is), and for this job's own file source, so reading the output folder back
  never takes the report for a result shard.

Each file is written whole: a local rename, or one GCS object upload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_job.errors import UserError
from spark_job.report.sketch import ALPHA
from spark_job.storage import gcs
from spark_job.storage.input_files import local_path

#: Names beside the results of a file sink (hidden from readers of the output folder).
BESIDE_RESULTS = ("_report.json", "_report.html")
#: Names under ``report.path``.
UNDER_PATH = ("report.json", "report.html")


@dataclass(frozen=True)
class ReportPlace:
    """A folder (local path or ``gs://bucket/prefix``) and the two file names in it."""

    folder: str
    json_name: str
    html_name: str

    @classmethod
    def choose(cls, path: str | None, results_folder: str | None) -> ReportPlace | None:
        """``report.path`` when given, else beside ``results_folder`` (a file sink's uri)."""
        if path is not None:
            return cls(path.rstrip("/"), *UNDER_PATH)
        if results_folder is not None:
            return cls(results_folder.rstrip("/"), *BESIDE_RESULTS)
        return None

    @property
    def json_uri(self) -> str:
        return f"{self.folder}/{self.json_name}"

    @property
    def html_uri(self) -> str:
        return f"{self.folder}/{self.html_name}"

    def check(self) -> None:
        """Driver, before anything is read: the folder can be written (UserError if not)."""
        if gcs.is_gcs(self.folder):
            bucket = gcs.parse(self.folder).bucket
            if not gcs.client().bucket(bucket).exists():
                raise UserError(f"report.path: bucket '{bucket}' does not exist.")
            return
        folder = Path(local_path(self.folder))
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise UserError(f"report.path: '{existing}' is a file, not a folder.")

    def write(self, json_text: str, html_text: str) -> None:
        _write(self.json_uri, json_text.encode(), "application/json")
        _write(self.html_uri, html_text.encode(), "text/html; charset=utf-8")


def _write(uri: str, data: bytes, content_type: str) -> None:
    if gcs.is_gcs(uri):
        gcs.write_bytes(gcs.client(), gcs.parse(uri), data, content_type)
        return
    target = Path(local_path(uri))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.replace(target)


def read_reference(uri: str) -> dict[str, Any]:
    """``report.reference``: an earlier report.json (UserError naming the field if it cannot
    be read or is not a report)."""
    try:
        if gcs.is_gcs(uri):
            data = gcs.read_bytes(gcs.client(), gcs.parse(uri))
        else:
            data = Path(local_path(uri)).read_bytes()
    except FileNotFoundError:
        raise UserError(f"report.reference: '{uri}' does not exist.") from None
    except OSError as error:
        raise UserError(f"report.reference: cannot read '{uri}': {error.strerror}") from None
    except Exception as error:  # GCS: NotFound, Forbidden, …
        raise UserError(f"report.reference: cannot read '{uri}': {error}") from None
    try:
        document = json.loads(data)
    except ValueError as error:
        raise UserError(f"report.reference: '{uri}' is not JSON: {error}") from None
    if not isinstance(document, dict) or "report_version" not in document:
        raise UserError(f"report.reference: '{uri}' is not a report.json of spark_job.")
    for section in ("features", "prediction"):
        for name, summary in (document.get(section) or {}).items():
            alpha = (summary.get("sketch") or {}).get("alpha", ALPHA)
            if alpha != ALPHA:
                raise UserError(
                    f"report.reference: '{uri}' holds sketches of another kind ({section}"
                    f" '{name}': alpha {alpha}, not {ALPHA}); make a new reference report."
                )
    return document
