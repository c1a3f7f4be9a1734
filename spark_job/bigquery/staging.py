"""How the BigQuery sink's staged load files are encoded (``intermediateFormat``).

Executors stage them with the one stager of every sink (:mod:`spark_job.sinks.stager`): with
pyarrow (or fastavro) to a local temporary file, uploaded with google-cloud-storage, so the
gcs-connector jar is not required.
"""

from __future__ import annotations

from pyspark.sql.types import StructType

from spark_job.errors import UserError
from spark_job.formats import avro_types
from spark_job.formats.file_encoders import Encoding
from spark_job.spec.options import INTERMEDIATE_FORMATS

#: The load job's source format of each ``intermediateFormat``.
FORMATS = {name: name.upper() for name in INTERMEDIATE_FORMATS}


def staging_encoding(fmt: str) -> Encoding:
    """The staged files' encoding: Avro arrays of non-null items, as BigQuery's REPEATED."""
    return Encoding(fmt, nullable_items=False)


def check_stageable(schema: StructType, fmt: str, field: str) -> None:
    """On the driver, before any task runs: can rows of ``schema`` be staged as ``fmt``?"""
    if fmt != "avro":
        return
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        staging_encoding(fmt).avro_schema(to_arrow_schema(schema))
    except avro_types.UnsupportedAvroType as error:
        raise UserError(
            f"{field}.options.intermediateFormat: {error}; use parquet (the default)."
        ) from None
