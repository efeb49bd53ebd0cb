"""How long a preview lives (workflows/lifetime.py): extension durations and the expiry deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.github.pr_comment import comment_body
from models.projects import DeploymentConfig
from workflows.activity_io import ReportInput
from workflows.lifetime import deadline, extension_hours, shown
from workflows.vocabulary import (
    FINAL_STATUSES,
    REPORT_FOR_PHASE,
    STATUS_FOR_PHASE,
    DeploymentStatus,
    Phase,
    ReportPhase,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "hours"),
    [("12h", 12), ("3d", 72), ("1w", 168), ("3D", 72), ("90d", 2160), ("2160h", 2160), (" 2d ", 48)],
)
def test_durations(text: str, hours: int) -> None:
    assert extension_hours(text) == hours


@pytest.mark.parametrize("text", ["", "3", "d", "0d", "91d", "13w", "2161h", "1.5d", "-1d", "3 d", "1y"])
def test_no_duration(text: str) -> None:
    assert extension_hours(text) is None


def test_the_deadline_counts_from_the_later_of_push_and_request() -> None:
    assert deadline(counted_from=T0, last_request=None, after=WEEK, extended_until=None) == T0 + WEEK
    later = T0 + timedelta(days=2)
    assert deadline(counted_from=T0, last_request=later, after=WEEK, extended_until=None) == later + WEEK
    earlier = T0 - timedelta(days=2)
    assert deadline(counted_from=T0, last_request=earlier, after=WEEK, extended_until=None) == T0 + WEEK


def test_an_extension_only_ever_moves_the_deadline_out() -> None:
    far = T0 + timedelta(days=30)
    assert deadline(counted_from=T0, last_request=None, after=WEEK, extended_until=far) == far
    near = T0 + timedelta(days=1)
    assert deadline(counted_from=T0, last_request=None, after=WEEK, extended_until=near) == T0 + WEEK


def test_shown_in_utc_to_the_minute() -> None:
    assert shown(T0 + timedelta(seconds=59)) == "2026-11-30 12:00 UTC"


def test_expired_is_one_word_across_the_vocabularies() -> None:
    assert STATUS_FOR_PHASE[Phase.EXPIRED] == DeploymentStatus.EXPIRED in FINAL_STATUSES
    assert REPORT_FOR_PHASE[Phase.EXPIRED] == ReportPhase.EXPIRED


def test_the_expired_comment_says_how_to_bring_it_back() -> None:
    body = comment_body(ReportInput(pr_number=3, sha="a" * 40, phase=ReportPhase.EXPIRED), None)
    assert "Expired" in body and "`/preview redeploy`" in body and "Push a commit" in body


def test_expire_after_days_defaults_to_a_week_and_zero_is_never() -> None:
    assert DeploymentConfig().expire_after_days == 7
    assert DeploymentConfig(expire_after_days=0).expire_after_days == 0
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        DeploymentConfig(expire_after_days=-1)
