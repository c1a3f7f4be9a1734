"""Sinks: one module per kind of output; ``open_sink`` picks the one the spec names."""

from __future__ import annotations

from spark_job.sinks.base import Finished, Proceed, Sink, Skip, Staged
from spark_job.spec import BigQuerySink, JobSpec


def open_sink(spec: JobSpec, job_name: str, run_id: str) -> Sink:
    """The writer for the spec's sink."""
    if isinstance(spec.sink, BigQuerySink):
        from spark_job.sinks.bigquery import open_bigquery_sink

        return open_bigquery_sink(spec.sink, job_name, run_id)
    if spec.sink.uri.startswith("gs://"):
        from spark_job.sinks.gcs_files import GcsFileSink

        return GcsFileSink(spec.sink, run_id)
    from spark_job.sinks.files import LocalFileSink

    return LocalFileSink(spec.sink, run_id)


__all__ = ["Finished", "Proceed", "Sink", "Skip", "Staged", "open_sink"]
