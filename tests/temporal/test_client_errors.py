"""An error an activity raised on purpose reaches the CLI as the engine's own error, with
its exit code; an execution Temporal closed on its own (terminated, timed out, cancelled)
is ClosedByTemporal naming how (test_term_records.py); anything else Temporal made up is
ExecutorUnavailable, exit 2."""

from __future__ import annotations

from typing import Any

import pytest

from connector import errors
from connector.temporal.client import _translated


def ApplicationError(*args: Any, **kwargs: Any) -> BaseException:
    """temporalio's, imported when a test runs, not at collection: temporalio grows the
    pytest process by ~20 MB, which every CLI child forked from it reports (tests/hostile)."""
    from temporalio.exceptions import ApplicationError as Error

    return Error(*args, **kwargs)


def _failure(cause: BaseException) -> Exception:
    failure = RuntimeError("workflow failed")
    failure.__cause__ = RuntimeError("activity failed")
    failure.__cause__.__cause__ = cause
    return failure


@pytest.mark.parametrize(
    ("type_name", "shown", "code"),
    [
        ("InvalidConfiguration", errors.InvalidConfiguration, 2),
        ("WorkflowInvalid", errors.InvalidConfiguration, 2),
        ("InvalidInput", errors.InvalidInput, 2),
        ("RunLogError", errors.RunLogError, 2),
        ("internal", errors.ConnectorError, 1),
    ],
)
def test_an_activity_error_keeps_its_kind_and_exit_code(
    type_name: str, shown: type[errors.ConnectorError], code: int
) -> None:
    error = _translated(
        _failure(ApplicationError("what went wrong", code, None, type=type_name)), "R"
    )
    assert type(error) is shown and error.exit_code == code
    assert str(error) == "what went wrong"


def test_an_already_retried_run_names_its_child() -> None:
    cause = ApplicationError("run A was already retried", 1, "B", type="AlreadyRetried")
    error = _translated(_failure(cause), "R")
    assert isinstance(error, errors.AlreadyRetried) and error.child_run_id == "B"


def test_a_failure_temporal_made_up_is_executor_unavailable() -> None:
    error = _translated(_failure(RuntimeError("terminated")), "R")
    assert isinstance(error, errors.ExecutorUnavailable) and error.exit_code == 2
