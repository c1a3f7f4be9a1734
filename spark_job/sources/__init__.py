"""Sources: one module per kind of input; ``open_source`` picks the one the spec names."""

from __future__ import annotations

from spark_job.sources.base import SourceReader
from spark_job.spec import BigQuerySource, JobSpec


def open_source(spec: JobSpec) -> SourceReader:
    """The reader for the spec's source."""
    if isinstance(spec.source, BigQuerySource):
        from spark_job.sources.bigquery import open_bigquery_source

        return open_bigquery_source(spec.source)
    from spark_job.sources.files import FileSource

    return FileSource(spec.source)


__all__ = ["SourceReader", "open_source"]
