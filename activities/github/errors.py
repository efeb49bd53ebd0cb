"""GitHub's answers as Temporal should see them: what may pass is retried (after its Retry-After),
what GitHub refused is not."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.github.client import GitHubApiError
from workflows.activity_io import ErrorType


def as_activity_error(error: GitHubApiError) -> ApplicationError:
    if error.transient:
        delay = timedelta(seconds=error.retry_after) if error.retry_after is not None else None
        return ApplicationError(str(error), type=ErrorType.GITHUB_UNAVAILABLE, next_retry_delay=delay)
    return ApplicationError(str(error), type=ErrorType.GITHUB_REJECTED, non_retryable=True)
