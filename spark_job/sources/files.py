"""Files on the local disk (paths or ``file://`` URIs): Parquet, CSV with header, JSON lines."""

from __future__ import annotations

import glob
import os
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_job.errors import UserError
from spark_job.sources.base import SourceReader, select_columns
from spark_job.spec import FileFormat, GcsSource


def local_path(uri: str) -> str:
    """The filesystem path of a local path or ``file://`` URI."""
    if uri.startswith("file://"):
        return urlparse(uri).path
    return uri


def expand_local(uri: str, field: str) -> list[str]:
    """Files named by ``uri``: a file, a directory (its files), ``dir/*`` or ``prefix*``."""
    path = local_path(uri)
    if os.path.isdir(path):
        path = os.path.join(path, "*")
    matches = [p for p in sorted(glob.glob(path)) if os.path.isfile(p)]
    matches = [p for p in matches if not os.path.basename(p).startswith(("_", "."))]
    if not matches:
        raise UserError(f"{field}: no file matches '{uri}'.")
    return matches


class LocalFileSource(SourceReader):
    """Spark's own readers over local files."""

    def __init__(self, spec: GcsSource, field: str = "gcsSource") -> None:
        self.spec = spec
        self.field = field

    def _paths(self) -> list[str]:
        paths: list[str] = []
        for index, uri in enumerate(self.spec.uris):
            where = (
                f"{self.field}.uri" if len(self.spec.uris) == 1 else f"{self.field}.uris[{index}]"
            )
            paths.extend(expand_local(uri, where))
        return paths

    def _load(self, spark: SparkSession, paths: list[str]) -> DataFrame:
        reader = spark.read.options(**self.spec.options)
        fmt = self.spec.format
        if fmt is FileFormat.PARQUET:
            return reader.parquet(*paths)
        if fmt is FileFormat.CSV:
            return reader.option("header", "true").option("inferSchema", "true").csv(paths)
        if fmt is FileFormat.JSON:
            return reader.json(paths)
        raise UserError(f"{self.field}.format: {fmt.value} is not readable from local files yet.")

    def read(self, spark: SparkSession) -> DataFrame:
        frame = self._load(spark, self._paths())
        passthrough, features = select_columns(
            frame.columns, self.spec.features, self.spec.passthrough, self.field
        )
        return frame.select(*passthrough, *features)
