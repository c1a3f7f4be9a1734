"""Task failures are classified by the Python exception type a task raised."""

from __future__ import annotations

from spark_job.run.task_failures import raised_in_task, user_error_from_task

TRACEBACK = """An exception was thrown from the Python worker. Please see the stack trace below.
Traceback (most recent call last):
  File "/x/pyspark/worker.py", line 1, in main
    process()
ValueError: negative feature value

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/spark_job/scoring/model.py", line 9, in score_batch
{raise_line}
"""


def _failure(line: str) -> Exception:
    return RuntimeError(TRACEBACK.format(raise_line=line))


def test_a_model_output_mismatch_is_a_user_error() -> None:
    error = _failure(
        "spark_job.scoring.results.ModelOutputError: model.result.type: the model returned"
        " 2 values for 3 rows"
    )
    found = user_error_from_task(error)
    assert found is not None
    assert str(found) == "model.result.type: the model returned 2 values for 3 rows"


def test_a_bad_input_instance_is_a_user_error() -> None:
    error = _failure("spark_job.scoring.row_errors.BadInputError: gcsSource: a.json line 3: bad")
    found = user_error_from_task(error)
    assert found is not None and str(found) == "gcsSource: a.json line 3: bad"


def test_the_same_words_from_another_type_are_not() -> None:
    """Classified by type: a model raising its own ``ModelOutputError`` class, or a message that
    merely mentions ours, is a runtime failure (exit 1)."""
    assert user_error_from_task(_failure("mymodel.ModelOutputError: oops")) is None
    assert user_error_from_task(_failure("ValueError: BadInputError: x")) is None
    assert user_error_from_task(_failure("mymodel.InstanceFailedError: y")) is None


def test_a_model_raising_on_an_instance_is_a_user_error() -> None:
    """The model is the user's: FAIL_FAST names the instance it raised on (exit 2)."""
    message = "gcsSource: the model failed on a.json line 3: ValueError: cannot score"
    error = _failure(f"spark_job.scoring.row_errors.InstanceFailedError: {message}")
    found = user_error_from_task(error)
    assert found is not None and str(found) == message


def test_exception_lines_are_read_in_order() -> None:
    kinds = [kind for kind, _ in raised_in_task(_failure("KeyError: 'x'"))]
    assert kinds == ["ValueError", "KeyError"]
