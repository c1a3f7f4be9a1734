"""The input's Spark types against the model's MLflow input signature: what fits, what the job
converts, what MLflow would refuse. Pure functions of the two schemas (no Spark job runs).

MLflow's ``pyfunc`` enforces a column-based signature on every batch, inside the task: a
required input that is missing, or a column it cannot "safely" convert, fails the batch. Each
feature reaches MLflow as the scorer hands it (see :mod:`spark_job.scoring.arrow_input`), so
each Spark type is judged by the pandas dtype it becomes and MLflow's rules for that dtype
(``mlflow.models.utils._enforce_mlflow_datatype``, checked with mlflow 3.17):

=================  ==========================  ===================  ==========================
signature type     taken as is                 converted by the     refused (castInputs: true
                                               job (Spark cast)     casts them)
=================  ==========================  ===================  ==========================
long               bigint                      tinyint, smallint,   float, double, decimal,
                                               int                  string, boolean
integer            int                         tinyint, smallint    bigint, float, double,
                                                                    decimal, string, boolean
double             double, decimal, string     tinyint, smallint,   bigint, boolean
                   (MLflow parses numbers)     int, float
float              float                       —                    integers, double, decimal,
                                                                    string, boolean
boolean            boolean, and any column     —                    numbers
                   of objects (MLflow passes
                   them on): string, binary,
                   decimal, array, map, struct
string, binary     the same columns of         —                    numbers, boolean, date,
                   objects                                          timestamp (string only)
datetime           date (the scorer makes it   string (ISO 8601,    —
                   datetime64), timestamp      to TIMESTAMP)
=================  ==========================  ===================  ==========================

Any other pair (a date for a long, a number for a datetime, a scalar for an array) is refused
and no cast helps. ``Array``, ``Object`` and ``Map`` inputs take an ARRAY, a STRUCT or MAP
column (their elements are not compared); ``Any`` takes anything.

NULLs: a NULL in an integer or long input turns the batch's column into float64, which MLflow
refuses (required input or not; other types carry a NULL as NaN, None or NaT). The job cannot
read every value before scoring, so it refuses such a column only when the source *knows* it
holds NULLs from metadata (Parquet footer statistics, :meth:`SourceReader.columns_with_nulls`);
a column declared NOT NULL (BigQuery REQUIRED) never does; any other NULL fails its batch while
scoring, under the job's ``errorHandling``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

CAST_OPTION = "model.options.castInputs"

_KINDS: tuple[tuple[type, str], ...] = (
    (ByteType, "int8"), (ShortType, "int16"), (IntegerType, "int32"), (LongType, "int64"),
    (FloatType, "float32"), (DoubleType, "float64"), (DecimalType, "decimal"),
    (StringType, "string"), (BooleanType, "bool"), (BinaryType, "binary"),
    (DateType, "datetime"), (TimestampType, "datetime"), (TimestampNTZType, "datetime"),
    (ArrayType, "array"), (MapType, "map"), (StructType, "struct"), (NullType, "null"),
)  # fmt: skip

_INTS = frozenset({"int8", "int16", "int32", "int64"})
_NUMBERS = _INTS | {"float32", "float64", "decimal"}
#: Kinds the scorer hands over as a column of Python objects (MLflow takes them for strings).
_OBJECTS = frozenset({"decimal", "string", "binary", "array", "map", "struct", "null", "other"})


@dataclass(frozen=True)
class _Rule:
    ok: frozenset[str]
    convert: frozenset[str] = frozenset()
    lossy: frozenset[str] = frozenset()


_RULES = {
    "long": _Rule(frozenset({"int64"}), frozenset({"int8", "int16", "int32"}),
                  frozenset({"float32", "float64", "decimal", "string", "bool"})),
    "integer": _Rule(frozenset({"int32"}), frozenset({"int8", "int16"}),
                     frozenset({"int64", "float32", "float64", "decimal", "string", "bool"})),
    "double": _Rule(frozenset({"float64", "decimal", "string", "null"}),
                    frozenset({"int8", "int16", "int32", "float32"}), frozenset({"int64", "bool"})),
    "float": _Rule(frozenset({"float32"}), lossy=_NUMBERS - {"float32"} | {"string", "bool"}),
    "boolean": _Rule(_OBJECTS | {"bool"}, lossy=_NUMBERS - {"decimal"}),
    "string": _Rule(_OBJECTS, lossy=_NUMBERS - {"decimal"} | {"bool", "datetime"}),
    "binary": _Rule(_OBJECTS),
    "datetime": _Rule(frozenset({"datetime", "null"}), frozenset({"string"})),
}  # fmt: skip

#: The Spark type each MLflow column type is cast to.
SPARK_TYPES: dict[str, DataType] = {
    "long": LongType(), "integer": IntegerType(), "double": DoubleType(), "float": FloatType(),
    "boolean": BooleanType(), "string": StringType(), "binary": BinaryType(),
    "datetime": TimestampType(),
}  # fmt: skip

#: How MLflow's error names what it was given, per kind.
_SEEN_AS = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
            "float32": "float32", "float64": "float64", "decimal": "Decimal", "string": "str",
            "bool": "bool", "binary": "bytes", "datetime": "datetime64", "array": "arrays",
            "map": "dicts", "struct": "dicts", "null": "None"}  # fmt: skip


class Fit(enum.Enum):
    OK = "ok"  #: MLflow takes the column as the scorer hands it
    CONVERT = "convert"  #: the job casts it first; no value changes
    LOSSY = "lossy"  #: MLflow refuses it; castInputs: true casts it
    REFUSED = "refused"  #: MLflow refuses it and no cast helps


def spark_kind(data_type: DataType) -> str:
    """The kind of value MLflow is handed for a column of ``data_type``."""
    for spark_type, kind in _KINDS:
        if isinstance(data_type, spark_type):
            return kind
    return "other"


def type_name(input_type: Any) -> str:
    """An MLflow input type as a signature shows it: ``long``, ``Array(double)``..."""
    name = getattr(input_type, "name", None)
    return name if isinstance(name, str) else str(input_type)


def fit(data_type: DataType, input_type: Any) -> Fit:
    """How a column of Spark type ``data_type`` fits an input of MLflow type ``input_type``."""
    kind = spark_kind(data_type)
    name = type_name(input_type)
    rule = _RULES.get(name)
    if rule is None:  # Array, Object, Map, Any
        wanted = {"Array": {"array"}, "Object": {"struct", "map"}, "Map": {"map", "struct"}}
        kinds = wanted.get(type(input_type).__name__)
        return Fit.OK if kinds is None or kind in kinds else Fit.REFUSED
    if kind in rule.ok:
        return Fit.OK
    if kind in rule.convert:
        return Fit.CONVERT
    return Fit.LOSSY if kind in rule.lossy else Fit.REFUSED


@dataclass(frozen=True)
class Mismatch:
    """One column that does not fit: its name, its type in the input ("missing"), the
    signature's type, why, and whether ``castInputs: true`` would make it fit."""

    column: str
    source: str
    signature: str
    why: str
    castable: bool = False

    def line(self) -> str:
        hint = f"; {CAST_OPTION}: true casts it" if self.castable else ""
        return (
            f"column '{self.column}': {self.source} in the input, {self.signature} in the"
            f" signature: {self.why}{hint}"
        )


@dataclass(frozen=True)
class InputPlan:
    """The comparison's outcome: the mismatches, and the casts to apply (column → type)."""

    mismatches: list[Mismatch] = field(default_factory=list)
    casts: dict[str, DataType] = field(default_factory=dict)


def _signature_type(spec: Any) -> str:
    optional = "" if getattr(spec, "required", True) else ", optional"
    return f"{type_name(spec.type)}{optional}"


def _pairs(features: Sequence[str], inputs: Any) -> list[tuple[str | None, Any]]:
    """(feature or None when missing, input spec) for every input of the signature."""
    specs = list(inputs.inputs)
    if inputs.has_input_names():
        return [(s.name if s.name in features else None, s) for s in specs]
    return [(features[i] if i < len(features) else None, s) for i, s in enumerate(specs)]


def null_candidates(schema: StructType, features: Sequence[str], inputs: Any) -> list[str]:
    """The features that would fail in MLflow if they held a NULL (integer or long inputs)
    and that the input does not declare NOT NULL: the ones to ask the source about."""
    fields = {f.name: f for f in schema.fields}
    return [
        name
        for name, spec in _pairs(features, inputs)
        if name is not None
        and type_name(spec.type) in ("long", "integer")
        and fields[name].nullable
        and fit(fields[name].dataType, spec.type) is not Fit.REFUSED
    ]


def _refusal(data_type: DataType, spec: Any) -> str:
    seen = _SEEN_AS.get(spark_kind(data_type), data_type.simpleString())
    return f"MLflow refuses {seen} for a {type_name(spec.type)} input"


def compare(
    schema: StructType,
    features: Sequence[str],
    inputs: Any,
    cast_inputs: bool = False,
    with_nulls: frozenset[str] = frozenset(),
    passthrough: Sequence[str] = (),
) -> InputPlan:
    """Compare the input (``schema``; the model gets ``features``) with ``inputs`` (a
    column-based ``mlflow.types.Schema``). ``with_nulls`` are the features known to hold a
    NULL; ``passthrough`` the columns never given to the model (for messages)."""
    fields = {f.name: f for f in schema.fields}
    plan = InputPlan()
    for index, (name, spec) in enumerate(_pairs(features, inputs)):
        wanted = _signature_type(spec)
        if name is None:
            if not getattr(spec, "required", True):
                continue
            column = spec.name or f"#{index + 1}"
            where = (
                "passed through, never given to the model"
                if column in passthrough
                else f"not among the features given to the model ({', '.join(features)})"
            )
            why = f"the model requires it; {where}"
            plan.mismatches.append(Mismatch(column, "missing", wanted, why))
            continue
        data_type = fields[name].dataType
        source = data_type.simpleString()
        verdict = fit(data_type, spec.type)
        if verdict is Fit.CONVERT or (verdict is Fit.LOSSY and cast_inputs):
            plan.casts[name] = SPARK_TYPES[type_name(spec.type)]
        elif verdict is Fit.LOSSY:
            why = _refusal(data_type, spec) + " (values could change)"
            plan.mismatches.append(Mismatch(name, source, wanted, why, castable=True))
        elif verdict is Fit.REFUSED:
            why = _refusal(data_type, spec) + "; no cast makes it one"
            plan.mismatches.append(Mismatch(name, source, wanted, why))
        if name in with_nulls and verdict is not Fit.REFUSED:
            why = (
                "the input holds NULLs (per its metadata), and MLflow refuses a batch whose"
                f" {type_name(spec.type)} column has a missing value; declare the input as"
                " double, or leave the rows with NULLs out"
            )
            plan.mismatches.append(Mismatch(name, f"{source} with NULLs", wanted, why))
    return plan
