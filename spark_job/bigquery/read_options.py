"""The storage-api engine's view of a source's read options.

The options are typed when the spec is loaded (``BigQuerySource.typed_options``, schema in
:mod:`spark_job.spec.options`); names and defaults are the spark-bigquery connector's, so one
``bigquerySource.options`` map works with either engine. Options only the connector uses are
reported by :func:`unused`.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_job.bigquery.types import TypeOptions
from spark_job.spec.options import BigQueryReadOptions


@dataclass(frozen=True)
class ReadOptions:
    """A source's read options; see the README's option table for each one's meaning."""

    field: str
    project: str | None = None
    parent_project: str | None = None
    location: str | None = None
    row_filter: str | None = None
    max_parallelism: int | None = None
    preferred_min_parallelism: int | None = None
    data_format: str = "ARROW"
    views_enabled: bool = False
    materialization_project: str | None = None
    materialization_dataset: str | None = None
    types: TypeOptions = TypeOptions()

    @classmethod
    def parse(cls, options: BigQueryReadOptions, field: str) -> ReadOptions:
        """From the typed options (a plain map is typed first, by the spec's schema);
        ``field`` is the source's spec path, e.g. ``bigquerySource``."""
        typed = options
        return cls(
            field=field,
            project=typed.project,
            parent_project=typed.parent_project,
            location=typed.location,
            row_filter=typed.row_filter,
            max_parallelism=typed.max_parallelism,
            preferred_min_parallelism=typed.preferred_min_parallelism,
            data_format=typed.data_format,
            views_enabled=typed.views_enabled,
            materialization_project=typed.materialization_project,
            materialization_dataset=typed.materialization_dataset,
            types=TypeOptions(
                field,
                typed.big_numeric_precision,
                typed.big_numeric_scale,
                typed.map_type_conversion,
            ),
        )

    def stream_counts(self, default_parallelism: int) -> tuple[int, int]:
        """(max, preferred minimum) streams, with the connector's defaults: the preferred
        minimum is the smaller of 3 × Spark's default parallelism and ``maxParallelism``;
        no maximum (0) lets BigQuery decide."""
        maximum = self.max_parallelism or 0
        preferred = self.preferred_min_parallelism or 3 * max(1, default_parallelism)
        if maximum:
            preferred = min(preferred, maximum)
        return maximum, preferred


def unused(options: BigQueryReadOptions) -> list[str]:
    """The options the storage-api engine ignores (connector-only ones, or typos)."""
    return sorted(options.passthrough)
