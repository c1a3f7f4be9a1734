"""Finding the instances a model fails on, once a whole batch has failed.

The model is called on whole Arrow batches; only when a call raises are the batch's rows
retried one by one, so isolation costs nothing while no batch fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from spark_job.scoring.results import ModelOutputError, to_result_series
from spark_job.scoring.row_errors import (
    MODEL_ERROR,
    InstanceFailedError,
    TaskErrors,
    TaskPolicy,
    describe_exception,
    short,
    where,
)
from spark_job.spec import ModelResult


def _origin(
    policy: TaskPolicy, origin: Sequence[pd.Series], row: int
) -> tuple[str | None, int | None]:
    if len(origin) < 2:
        return None, None
    line = origin[1].iloc[row]
    return policy.file_name(origin[0].iloc[row]), None if pd.isna(line) else int(line)


def _plain(value: Any) -> Any:
    """A NumPy scalar or array as Python values (for messages)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _instance(frame: pd.DataFrame, row: int) -> str:
    return short(repr({name: _plain(frame[name].iloc[row]) for name in frame.columns}))


def _predict_one(model: Any, frame: pd.DataFrame, row: int, result: ModelResult) -> Any:
    single = frame.iloc[row : row + 1].reset_index(drop=True)
    return to_result_series(model.predict(single), result, 1).iloc[0]


def first_failure(
    model: Any,
    frame: pd.DataFrame,
    origin: Sequence[pd.Series],
    policy: TaskPolicy,
    result: ModelResult,
    error: Exception,
) -> Exception:
    """FAIL_FAST: the error to raise for a failed batch, naming its first failing instance
    (the batch's own error if every instance succeeds alone)."""
    for row in range(len(frame)):
        try:
            _predict_one(model, frame, row, result)
        except ModelOutputError:
            raise
        except Exception as row_error:
            file, line = _origin(policy, origin, row)
            at = where(file, line) if file else f"an instance {_instance(frame, row)}"
            return InstanceFailedError(
                f"{policy.source_field}: the model failed on {at}: {describe_exception(row_error)}"
            )
    return error


def isolate_rows(
    model: Any,
    frame: pd.DataFrame,
    origin: Sequence[pd.Series],
    policy: TaskPolicy,
    result: ModelResult,
    errors: TaskErrors,
) -> tuple[pd.Series, np.ndarray]:
    """RECORD_AND_CONTINUE: predict row by row; record the rows the model fails on.

    Returns the predictions (None where the model failed) and a boolean mask of successes.
    """
    values: list[Any] = [None] * len(frame)
    ok = np.zeros(len(frame), dtype=bool)
    for row in range(len(frame)):
        try:
            values[row] = _predict_one(model, frame, row, result)
            ok[row] = True
        except ModelOutputError:
            raise
        except Exception as row_error:
            file, line = _origin(policy, origin, row)
            note = f" (instance {_instance(frame, row)})" if file is None else ""
            message = describe_exception(row_error)
            errors.record(MODEL_ERROR, file, line, message, errors.instance(row), note)
    return pd.Series(values, dtype=object), ok
