"""The model's signature, read on the driver before anything scores: :class:`ModelPlan`.

:func:`plan_model` resolves ``model.uri`` to a local MLflow model and reads its signature from
``MLmodel`` (the model itself is not loaded), then checks ``model.params`` against the
signature's params schema — before any SparkSession starts. Once the source's schema is known,
:meth:`ModelPlan.check_input` compares it with the input signature (the rules are in
:mod:`spark_job.scoring.signature_checks`): every mismatch in one UserError, and the frame with
the job's conversions applied. A model without a signature is scored as it always was.

Example::

    plan = plan_model(spec.model)            # UserError for a bad model.params
    plan.signature_features                  # ['age', 'income'] (None: no named inputs)
    frame = plan.check_input(frame, features, "gcsSource", cast_inputs=False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_job.errors import UserError
from spark_job.scoring.model_store import resolve_model
from spark_job.scoring.result_types import resolve_result
from spark_job.scoring.signature_checks import compare, null_candidates, type_name
from spark_job.spec import ModelResult, ModelSpec, ResultType
from spark_job.spec.fields import did_you_mean, error_line
from spark_job.spec.secrets import shown

log = logging.getLogger(__name__)

PARAMS_FIELD = "model.params"


def read_signature(model_dir: Path, uri: str) -> Any:
    """The ``mlflow.models.ModelSignature`` in ``model_dir``'s ``MLmodel``, or None."""
    from mlflow.models import Model

    try:
        return Model.load(str(Path(model_dir) / "MLmodel")).signature
    except Exception as error:  # a malformed MLmodel: the user's model
        raise UserError(
            f"model.uri: cannot read the MLmodel of {uri}: {error_line(error)}"
        ) from None


def _param_type(spec: Any) -> str:
    shape = "" if spec.shape is None else f" list (shape {tuple(spec.shape)})"
    return f"{type_name(spec.dtype)}{shape}"


def check_params(given: dict[str, Any], schema: Any) -> dict[str, Any] | None:
    """``model.params`` checked against ``schema`` (a ``ParamSchema`` or None), merged over its
    defaults: what ``predict(..., params=...)`` gets (None: no params at all)."""
    from mlflow.types import ParamSpec

    specs = {spec.name: spec for spec in (schema.params if schema is not None else [])}
    for name in given:
        if name not in specs:
            allowed = sorted(specs)
            hint = did_you_mean(name, allowed)
            names = f" Params it takes: {', '.join(allowed)}." if allowed else ""
            raise UserError(
                f"{PARAMS_FIELD}.{name}: not a param of the model's signature.{hint}"
                + (names or " The model's signature declares no params.")
            )
    if not specs:
        return None
    params = {name: spec.default for name, spec in specs.items()}
    for name, value in given.items():
        spec = specs[name]
        try:
            params[name] = ParamSpec.validate_type_and_shape(name, value, spec.dtype, spec.shape)
        except Exception:
            raise UserError(
                f"{PARAMS_FIELD}.{name}: {shown(name, repr(value))} is not a"
                f" {_param_type(spec)}, the type the model's signature declares (default"
                f" {shown(name, repr(spec.default))})."
            ) from None
    return params


def _column(name: str) -> Any:
    return F.col("`" + name.replace("`", "``") + "`")


@dataclass(frozen=True)
class ModelPlan:
    """What the driver knows of the model before scoring: where it is, its signature's
    schemas (``mlflow.types`` values; None without a signature), the params ``predict``
    gets (None: none)."""

    uri: str
    model_dir: Path
    input_schema: Any = None
    output_schema: Any = None
    params_schema: Any = None
    params: dict[str, Any] | None = None
    #: ``model.result`` made concrete (AUTO and a STRUCT's fields from the output schema).
    result: ModelResult = field(default_factory=lambda: ModelResult(ResultType.DOUBLE))

    @property
    def signature_features(self) -> list[str] | None:
        """The input names of a column-based signature with names (None: no such signature);
        the features when the spec lists none."""
        inputs = self.input_schema
        if inputs is None or inputs.is_tensor_spec() or not inputs.has_input_names():
            return None
        return list(inputs.input_names())

    def check_input(
        self,
        frame: DataFrame,
        features: list[str],
        field: str,
        cast_inputs: bool,
        holds_nulls: Callable[[list[str]], set[str]] | None = None,
        passthrough: Sequence[str] = (),
    ) -> DataFrame:
        """``frame`` (the model gets its ``features``) compared with the input signature:
        UserError listing every mismatch (``field`` is the source's spec field); else
        ``frame`` with the conversions cast (``cast_inputs``: also every input MLflow would
        refuse). ``holds_nulls`` asks the source which of some columns it knows hold NULLs
        (Parquet footers: a small Spark job); nothing else runs, the frame stays planned."""
        inputs = self.input_schema
        if inputs is None:
            return frame
        if inputs.is_tensor_spec():
            log.info("%s: the model's signature is tensor-based; inputs not compared", field)
            return frame
        candidates = null_candidates(frame.schema, features, inputs)
        nulls = frozenset(holds_nulls(candidates)) if candidates and holds_nulls else frozenset()
        plan = compare(frame.schema, features, inputs, cast_inputs, nulls, passthrough)
        if plan.mismatches:
            lines = "\n".join(f"  - {m.line()}" for m in plan.mismatches)
            raise UserError(
                f"{field}: {len(plan.mismatches)} column(s) do not fit the model's signature"
                f" ({self.uri}):\n{lines}"
            )
        if inputs.has_input_names():
            extra = [name for name in features if name not in inputs.input_names()]
            if extra:
                log.info("%s: not in the model's signature (MLflow drops them): %s", field, extra)
        if not plan.casts:
            return frame
        log.info(
            "%s: cast for the model's signature: %s", field,
            ", ".join(f"{name} → {t.simpleString()}" for name, t in plan.casts.items()),
        )  # fmt: skip
        return frame.select(
            *(
                _column(c).cast(plan.casts[c]).alias(c) if c in plan.casts else _column(c)
                for c in frame.columns
            )
        )


def plan_model(model: ModelSpec) -> ModelPlan:
    """Resolve ``model.uri`` (on the driver), read its signature and check ``model.params``:
    UserError for a missing model or a bad param."""
    model_dir = resolve_model(model.uri)
    signature = read_signature(model_dir, model.uri)
    if signature is None:
        params = check_params(model.params, None)
        return ModelPlan(
            model.uri, model_dir, params=params, result=resolve_result(model.result, None)
        )
    return ModelPlan(
        uri=model.uri,
        model_dir=model_dir,
        input_schema=signature.inputs,
        output_schema=signature.outputs,
        params_schema=signature.params,
        params=check_params(model.params, signature.params),
        result=resolve_result(model.result, signature.outputs),
    )


def _schema_lines(schema: Any) -> list[str]:
    if schema is None:
        return ["  (none)"]
    lines = []
    for index, spec in enumerate(schema.inputs):
        name = getattr(spec, "name", None) or f"#{index + 1}"
        if schema.is_tensor_spec():
            lines.append(f"  {name}: tensor {spec.type} shape {spec.shape}")
        else:
            required = "required" if getattr(spec, "required", True) else "optional"
            lines.append(f"  {name}: {type_name(spec.type)} ({required})")
    return lines


def describe(plan: ModelPlan, given_params: dict[str, Any] | None = None) -> list[str]:
    """The signature, for people: inputs, params (defaults, the values given), outputs."""
    if plan.input_schema is None and plan.output_schema is None and plan.params_schema is None:
        return ["signature: none (features: as the spec lists them; no checks)"]
    lines = ["signature inputs:", *_schema_lines(plan.input_schema), "params:"]
    specs = plan.params_schema.params if plan.params_schema is not None else []
    for spec in specs:
        value = (plan.params or {}).get(spec.name, spec.default)
        given = " (model.params)" if spec.name in (given_params or {}) else " (default)"
        value = shown(spec.name, repr(value))  # a secret-named param: masked
        lines.append(f"  {spec.name}: {_param_type(spec)} = {value}{given}")
    if not specs:
        lines.append("  (none)")
    return [*lines, "signature outputs:", *_schema_lines(plan.output_schema)]
