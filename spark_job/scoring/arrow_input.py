"""The model's input frame from an Arrow batch, as Spark's scalar iterator pandas UDF gives it.

:class:`~spark_job.scoring.arrow_scorer.ArrowScorer` reads the input's Arrow batches itself
(``mapInArrow``) instead of letting a pandas UDF convert them, so it must convert each feature
column from Arrow to pandas exactly as Spark does for a ``SQL_SCALAR_PANDAS_ITER_UDF``
argument: a model must see the same dtypes and values whichever path scored it. Spark's worker
converts such an argument with ``ArrowStreamPandasUDFSerializer.arrow_to_pandas``, which is
``column.to_pandas(date_as_object=True, coerce_temporal_nanoseconds=True)`` followed by the
converter of ``_create_converter_to_pandas`` for the column's Spark type, built with the session
time zone, ``struct_in_pandas="dict"``, ``ndarray_as_list=False`` and
``error_on_duplicated_field_names=True`` (see ``read_udfs`` in ``pyspark/worker.py``);
``safecheck`` only matters for the UDF's output. This module applies the same two steps with
Spark's own functions, so new Spark releases keep their conversion rules.

The Spark type is the one the UDF's worker derives from the Arrow type the JVM sends
(``from_arrow_type(..., prefer_timestamp_ntz=True)``): a user-defined type arrives as its SQL
type (not deserialized) and a TIMESTAMP as an Arrow timestamp with a time zone. ``mapInArrow``
batches carry the same Arrow types; their timestamps may name another zone than the UDF's (UTC
or the session's), which does not matter: the converter turns the instant into the session's
local time either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import _create_converter_to_pandas, from_arrow_type, to_arrow_type
from pyspark.sql.types import DataType, DateType, StructType

from spark_job.scoring.model import model_input

#: Spark's conf naming the time zone in which TIMESTAMP values reach pandas.
TIME_ZONE_CONF = "spark.sql.session.timeZone"

ColumnConverter = Callable[[pa.Array], pd.Series]


@dataclass(frozen=True)
class FeatureConverters:
    """What converting the features of a frame needs, built on the driver and pickled to tasks.

    ``schema`` holds the features' Spark types as the input frame declares them and
    ``timezone`` the session time zone; the converters themselves are built in the task, once
    per Python process (:meth:`converter`), since Spark's converters are closures that do not
    pickle and building them per batch would cost more than small batches.
    """

    schema: StructType
    timezone: str

    @classmethod
    def for_frame(cls, frame: DataFrame, features: Sequence[str]) -> FeatureConverters:
        """The converters of ``features`` of ``frame`` in ``frame``'s session time zone.

        Raises ``PySparkException`` (as the UDF's worker would) for a feature Spark cannot
        convert from Arrow, e.g. a YEAR TO MONTH interval.
        """
        types = {f.name: f for f in frame.schema.fields}
        timezone = frame.sparkSession.conf.get(TIME_ZONE_CONF)
        assert timezone is not None  # Spark always sets it
        converters = cls(StructType([types[name] for name in features]), timezone)
        converters.check()
        return converters

    def check(self) -> None:
        """Build every converter here, so an unsupported type fails on the driver."""
        for name in self.schema.names:
            self.converter(name)

    def converter(self, name: str) -> ColumnConverter:
        """The Arrow → pandas conversion of feature ``name`` (cached in this process)."""
        return _column_converter(self.schema[name].dataType, self.timezone)


def arrow_convertible(data_type: DataType) -> bool:
    """Whether Spark can move ``data_type`` as Arrow at all (``mapInArrow``, pandas UDFs).

    Not: year-month and calendar intervals (pyarrow cannot even open a batch holding the
    former, Spark has no Arrow type for the latter), CHAR/VARCHAR types kept as such in a
    schema, and TIME while Spark refuses it.
    """
    try:
        to_arrow_type(data_type)
    except PySparkException:
        return False
    return True


def udf_argument_type(data_type: DataType) -> DataType:
    """The Spark type a pandas UDF's worker sees for an argument of ``data_type``: the type
    read back from the Arrow type the JVM sends (user-defined types as their SQL type)."""
    return from_arrow_type(to_arrow_type(data_type), prefer_timestamp_ntz=True)


@lru_cache(maxsize=256)
def _column_converter(data_type: DataType, timezone: str) -> ColumnConverter:
    """Spark's Arrow → pandas conversion of a pandas-UDF argument of ``data_type``.

    A struct becomes a column of dicts (field name → value), None for a null struct: what
    Spark gives for a struct anywhere below the top level of an argument (in an array, a
    map, another struct) and what ``DataFrame.toPandas`` gives in its "dict" struct mode.
    Spark hands a top-level struct argument to the UDF as a pandas DataFrame instead, which
    a column of the model's input frame cannot hold (``model_input`` raises ValueError on it),
    so the model sees one dict per row, with the values the UDF's DataFrame held in that row
    (an integer field stays an int where the DataFrame, holding a null, widened it to float).
    """
    seen = udf_argument_type(data_type)
    convert = _create_converter_to_pandas(
        seen,
        nullable=True,
        timezone=timezone,
        struct_in_pandas="dict",
        error_on_duplicated_field_names=True,
        ndarray_as_list=False,
    )

    def to_pandas(column: pa.Array) -> pd.Series:
        # Dates as datetime.date objects: datetime64[ns] would overflow past year 2262.
        return convert(column.to_pandas(date_as_object=True, coerce_temporal_nanoseconds=True))

    return to_pandas


def feature_frame(
    batch: pa.RecordBatch, features: Sequence[str], converters: FeatureConverters
) -> pd.DataFrame:
    """The model's input frame for ``batch``: its ``features`` columns, in order, each as the
    pandas UDF path gives it (see :func:`_column_converter`), DATE columns as datetime64 as
    :func:`~spark_job.scoring.model.model_input` makes them."""
    names = list(features)
    columns = [converters.converter(name)(batch.column(name)) for name in names]
    dates = frozenset(n for n in names if isinstance(converters.schema[n].dataType, DateType))
    return model_input(columns, names, dates)
