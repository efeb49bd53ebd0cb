"""How an activity's failure reads in logs, history entries and on the PR."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def describe_failure(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error)
