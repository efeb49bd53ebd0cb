"""activities/github/content_budget.py: writes per installation stay under GitHub's content limits."""

from __future__ import annotations

import pytest

from activities.github.client import GitHubApi, GitHubApiError
from activities.github.content_budget import ContentBudget


def test_writes_fit_until_the_minute_is_full_then_wait_for_the_oldest_to_age_out() -> None:
    budget = ContentBudget(per_minute=3, per_hour=100)
    assert [budget.reserve("t", now=at) for at in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert budget.reserve("t", now=10.0) == 50.0  # the write at 0.0 leaves the window at 60.0
    assert budget.reserve("t", now=60.0) == 0.0


def test_installations_have_budgets_of_their_own() -> None:
    budget = ContentBudget(per_minute=1, per_hour=100)
    assert budget.reserve("installation-a", now=0.0) == 0.0
    assert budget.reserve("installation-b", now=0.0) == 0.0
    assert budget.reserve("installation-a", now=1.0) == 59.0


def test_the_hourly_limit_holds_even_when_minutes_are_spread() -> None:
    budget = ContentBudget(per_minute=10, per_hour=5)
    for minute in range(5):
        assert budget.reserve("t", now=minute * 60.0) == 0.0
    assert budget.reserve("t", now=300.0) == 3300.0
    assert budget.reserve("t", now=3600.0) == 0.0


def test_a_refused_reservation_is_not_counted() -> None:
    budget = ContentBudget(per_minute=1, per_hour=100)
    budget.reserve("t", now=0.0)
    for at in (1.0, 2.0, 3.0):
        assert budget.reserve("t", now=at) > 0
    assert budget.reserve("t", now=60.0) == 0.0


async def test_a_write_past_the_budget_is_a_transient_error_that_says_when_to_retry() -> None:
    api = GitHubApi("http://127.0.0.1:9")  # nothing listens: a write that got through would fail to connect
    api.content_budget = ContentBudget(per_minute=1, per_hour=100)
    api.content_budget.reserve("ghs_token")
    with pytest.raises(GitHubApiError) as raised:
        await api.request("PATCH", "/repos/o/r/issues/comments/1", token="ghs_token", json={"body": "x"})
    assert raised.value.transient and raised.value.retry_after is not None and raised.value.retry_after > 50
    assert "ghs_token" not in str(raised.value)
    await api.aclose()


def test_a_write_refused_for_a_rate_limit_is_refunded() -> None:
    budget = ContentBudget(per_minute=1, per_hour=100)
    assert budget.reserve("t", now=0.0) == 0.0
    budget.refund("t")
    assert budget.reserve("t", now=1.0) == 0.0
    assert budget.reserve("t", now=2.0) == 59.0
