"""BigQuery table ids as users write them: ``project.dataset.table``, ``project:dataset.table``
(Merlin's samples) and ``dataset.table`` (project from ``parentProject`` or the default)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from spark_job.errors import UserError
from spark_job.storage.locations import Location

_PROJECT = r"(?:[a-z][a-z0-9\-.]*:)?[a-z][a-z0-9\-]*"  # domain-scoped: example.com:project
_NAME = r"[A-Za-z0-9_]+"
_TABLE = r"[\w\-$ ]+"
_FULL = re.compile(rf"^(?P<project>{_PROJECT})[.:](?P<dataset>{_NAME})\.(?P<table>{_TABLE})$")
_SHORT = re.compile(rf"^(?P<dataset>{_NAME})\.(?P<table>{_TABLE})$")


@dataclass(frozen=True)
class TableId:
    project: str
    dataset: str
    table: str

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def dataset_id(self) -> str:
        return f"{self.project}.{self.dataset}"

    @property
    def location(self) -> Location:
        """The table as a :class:`~spark_job.storage.locations.Location` (outputs are compared
        with inputs by it)."""
        return Location(f"bigquery:{self.dataset_id}", self.table)


def parse_table_id(text: str, field: str, default_project: str | None) -> TableId:
    """Parse ``text``; ``field`` (e.g. ``bigquerySource.table``) is named in the error."""
    value = text.strip().strip("`")
    match = _FULL.match(value)
    if match:
        return TableId(match["project"], match["dataset"], match["table"])
    match = _SHORT.match(value)
    if match:
        if not default_project:
            raise UserError(
                f"{field}: '{text}' names no project; write project.dataset.table or set"
                " options.parentProject (or GOOGLE_CLOUD_PROJECT)."
            )
        return TableId(default_project, match["dataset"], match["table"])
    raise UserError(
        f"{field}: '{text}' is not a BigQuery table id; expected project.dataset.table,"
        " project:dataset.table or dataset.table."
    )
