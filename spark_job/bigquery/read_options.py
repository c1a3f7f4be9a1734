"""The connector's read options that the storage-api engine understands, parsed and checked.

Names and defaults are the spark-bigquery connector's, so one ``bigquerySource.options`` map
works with either engine. Options only the connector uses are reported by :func:`unused`.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_job.bigquery.types import BIGNUMERIC_DEFAULT, TypeOptions
from spark_job.errors import UserError
from spark_job.spec import option_flag

DATA_FORMATS = ("ARROW", "AVRO")

#: Options the storage-api engine reads (``engine`` is ours, the rest the connector's).
KNOWN = frozenset(
    {
        "engine",
        "project",
        "parentProject",
        "location",
        "filter",
        "maxParallelism",
        "parallelism",
        "preferredMinParallelism",
        "readDataFormat",
        "viewsEnabled",
        "viewMaterializationProject",
        "viewMaterializationDataset",
        "optimizedEmptyProjection",
        "bigNumericDefaultPrecision",
        "bigNumericDefaultScale",
        "allowMapTypeConversion",
    }
)


def _flag(options: dict[str, str], key: str, default: bool, field: str) -> bool:
    return option_flag(options, key, default, f"{field}.options")


def _positive(options: dict[str, str], key: str, field: str) -> int | None:
    text = options.get(key)
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise UserError(f"{field}.options.{key}: expected a positive integer, got '{text}'.")
    return number


def _bounded(
    options: dict[str, str], key: str, default: int, low: int, high: int, field: str
) -> int:
    text = options.get(key)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise UserError(f"{field}.options.{key}: expected an integer {low}–{high}, got '{text}'.")
    return number


def _type_options(options: dict[str, str], field: str) -> TypeOptions:
    precision = _bounded(options, "bigNumericDefaultPrecision", BIGNUMERIC_DEFAULT[0], 1, 38, field)
    scale = _bounded(options, "bigNumericDefaultScale", BIGNUMERIC_DEFAULT[1], 0, 38, field)
    if scale > precision:
        default = "" if "bigNumericDefaultScale" in options else " (its default)"
        raise UserError(
            f"{field}.options.bigNumericDefaultScale: must be at most bigNumericDefaultPrecision"
            f" ({precision}); it is {scale}{default}."
        )
    mapping = _flag(options, "allowMapTypeConversion", True, field)
    return TypeOptions(field, precision, scale, mapping)


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
    optimized_empty_projection: bool = True
    types: TypeOptions = TypeOptions()

    @classmethod
    def parse(cls, options: dict[str, str], field: str) -> ReadOptions:
        data_format = options.get("readDataFormat", "ARROW").strip().upper()
        if data_format not in DATA_FORMATS:
            raise UserError(
                f"{field}.options.readDataFormat: '{options['readDataFormat']}' is not one of"
                f" {', '.join(DATA_FORMATS)}."
            )
        maximum = _positive(options, "maxParallelism", field)
        if maximum is None:  # the connector's deprecated name
            maximum = _positive(options, "parallelism", field)
        return cls(
            field=field,
            project=options.get("project") or None,
            parent_project=options.get("parentProject") or None,
            location=options.get("location") or None,
            row_filter=(options.get("filter") or "").strip() or None,
            max_parallelism=maximum,
            preferred_min_parallelism=_positive(options, "preferredMinParallelism", field),
            data_format=data_format,
            views_enabled=_flag(options, "viewsEnabled", False, field),
            materialization_project=options.get("viewMaterializationProject") or None,
            materialization_dataset=options.get("viewMaterializationDataset") or None,
            optimized_empty_projection=_flag(options, "optimizedEmptyProjection", True, field),
            types=_type_options(options, field),
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


def unused(options: dict[str, str]) -> list[str]:
    """The options the storage-api engine ignores (connector-only ones, or typos)."""
    return sorted(key for key in options if key not in KNOWN)
