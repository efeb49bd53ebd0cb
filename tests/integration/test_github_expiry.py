"""Expiry through signed webhooks, the real worker and the GitHub fake (issue 14 part 2): a preview
nobody pushes to or visits is warned a "day" before and torn down (status `expired`), a pinned one
survives its expiry and new pushes, a push or a visit counts the time afresh, and `/preview extend`
needs push access.

A "day" lasts DAY seconds here (PREVIEWD_EXPIRY_UNIT_SECONDS, a test knob the code treats like a day),
so `expire_after_days = 3` expires a preview 3 * DAY seconds after its last push or visit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from tests.integration.github_system import REPO, GitHubSystem, github_system
from tests.integration.system import wait_for

DAY = 4.0
DAYS = 3
EXPIRES_AFTER = DAYS * DAY


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubSystem]:
    env = {"PREVIEWD_EXPIRY_UNIT_SECONDS": str(DAY)}
    with github_system(tmp_path_factory.mktemp("github-expiry"), extra_env=env) as running:
        yield running


def _open(github: GitHubSystem, project: dict[str, Any], number: int, action: str = "opened") -> str:
    sha = github.push(f"PR {number} {action}", ref=f"refs/heads/pr-{number}")
    github.fake.set_pull(REPO, number, head_sha=sha)
    github.system.pull_request(project, action, number, sha)
    return sha


def _says(github: GitHubSystem, number: int, text: str) -> bool:
    return text in github.sticky(number)


def _at(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_an_unused_preview_is_warned_then_expires_and_a_push_brings_it_back(github: GitHubSystem) -> None:
    system = github.system
    number = 60
    project = github.add_project(9060, expire_after_days=DAYS)
    pushed = datetime.now(UTC)
    sha = _open(github, project, number)
    live = system.wait_status(project["id"], number, sha, "active")

    expired = system.wait_status(project["id"], number, sha, "expired", timeout=EXPIRES_AFTER + 60)
    assert expired["id"] == live["id"]
    assert _at(expired["completed_at"]) >= pushed + timedelta(seconds=EXPIRES_AFTER)
    wait_for(partial(_says, github, number, "Expired"), timeout=60, what="the PR told it expired")
    final = github.sticky(number)
    assert "Push a commit, or comment `/preview redeploy`, to bring it back" in final
    warnings = [body for body in github.sticky_history(number) if "This preview expires at" in body]
    assert warnings, github.sticky_history(number)
    assert "UTC" in warnings[0] and "`/preview keep`" in warnings[0] and "`/preview extend 3d`" in warnings[0]
    # GitHub's side is final: the deployment inactive, the commit's status what it was (success).
    wait_for(lambda: github.told(number, sha, "inactive"), timeout=60, what="the deployment inactive")
    assert github.commit_states(sha)[-1] == "success"
    assert system.preview(live["app_name"]).status_code != 200
    assert any("expired" in line for line in system.logs(live["id"]))

    newer = _open(github, project, number, "synchronize")
    back = system.wait_status(project["id"], number, newer, "active")
    assert newer in system.preview(back["app_name"]).text


def test_a_pinned_preview_survives_its_expiry_and_a_new_push(github: GitHubSystem) -> None:
    system = github.system
    number = 61
    project = github.add_project(9061, expire_after_days=DAYS)
    sha = _open(github, project, number)
    system.wait_status(project["id"], number, sha, "active")
    github.comment(project, number, "/preview keep", login="maintainer", association="MEMBER")
    wait_for(partial(_says, github, number, "@maintainer pinned this preview"), timeout=60, what="pinned")

    time.sleep(EXPIRES_AFTER + 2)
    newer = _open(github, project, number, "synchronize")
    system.wait_status(project["id"], number, newer, "active")
    time.sleep(EXPIRES_AFTER + 2)

    statuses = [row["status"] for row in system.deployments(project["id"], number)]
    assert statuses == ["replaced", "active"]
    assert not any("This preview expires at" in body for body in github.sticky_history(number))


def test_a_push_or_a_visit_counts_the_time_afresh(github: GitHubSystem) -> None:
    system = github.system
    number = 62
    project = github.add_project(9062, expire_after_days=DAYS)
    first = _open(github, project, number)
    live = system.wait_status(project["id"], number, first, "active")
    time.sleep(DAY)
    pushed = datetime.now(UTC)
    second = _open(github, project, number, "synchronize")
    system.wait_status(project["id"], number, second, "active")
    time.sleep(DAY)
    visited = datetime.now(UTC)
    assert second in system.preview(live["app_name"]).text  # the proxy records this request

    expired = system.wait_status(project["id"], number, second, "expired", timeout=EXPIRES_AFTER + 60)
    # Neither the first push's deadline nor the second's: the visit's.
    assert _at(expired["completed_at"]) >= visited + timedelta(seconds=EXPIRES_AFTER)
    assert _at(expired["completed_at"]) >= pushed + timedelta(seconds=EXPIRES_AFTER + DAY)


def test_extend_by_a_read_only_user_is_refused_and_by_a_maintainer_moves_the_expiry(
    github: GitHubSystem,
) -> None:
    system = github.system
    number = 63
    project = github.add_project(9063, expire_after_days=DAYS)
    pushed = datetime.now(UTC)
    sha = _open(github, project, number)
    system.wait_status(project["id"], number, sha, "active")

    github.comment(project, number, "/preview extend 3d", login="member-reader", association="MEMBER")
    refusal = "@member-reader: `/preview extend` was not carried out: it needs push access"
    wait_for(partial(_says, github, number, refusal), timeout=60, what="the reader refused")
    github.comment(project, number, "/preview extend soon", login="maintainer", association="MEMBER")
    wait_for(partial(_says, github, number, "`/preview extend soon` was not carried out"), timeout=60)
    github.comment(project, number, "/preview extend 2d", login="maintainer", association="MEMBER")
    wait_for(partial(_says, github, number, "@maintainer extended this preview"), timeout=60, what="extended")

    expired = system.wait_status(project["id"], number, sha, "expired", timeout=EXPIRES_AFTER + 60)
    assert _at(expired["completed_at"]) >= pushed + timedelta(seconds=EXPIRES_AFTER + 2 * DAY)
