"""Sources: one module per kind of input; ``open_source`` picks the one the spec names."""

from __future__ import annotations

from spark_job.sources.base import SourceReader
from spark_job.spec import BigQuerySource, JobSpec


def open_source(spec: JobSpec, model_inputs: list[str] | None = None) -> SourceReader:
    """The reader for the spec's source; ``model_inputs`` (the input names of the model's
    signature) are its features when the spec lists none."""
    reader: SourceReader
    if isinstance(spec.source, BigQuerySource):
        from spark_job.sources.bigquery import open_bigquery_source

        reader = open_bigquery_source(spec.source)
    else:
        from spark_job.sources.files import FileSource

        reader = FileSource(spec.source)
    reader.model_inputs = model_inputs
    return reader


__all__ = ["SourceReader", "open_source"]
