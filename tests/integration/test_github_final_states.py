"""Nothing left pending on GitHub: through signed webhooks, the real worker and the GitHub fake, every
GitHub Deployment previewd creates ends in a final state, and no `previewd` commit status stays
`pending`, whatever reports collapsed, were skipped, or failed on the way."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from tests.integration.github_system import FINAL_AFTER_CLOSE, REPO, GitHubSystem
from tests.integration.system import wait_for
from workflows.vocabulary import DeploymentStatus

CONVERGED_WITHIN = 240


def open_push_close(github: GitHubSystem, project: dict[str, Any], number: int) -> list[str]:
    """Open the PR, push once right away (its first sha then still building, most likely), close it once
    the pushed sha is live. Every sha pushed, oldest first."""
    system, fake = github.system, github.fake
    first = github.push(f"PR {number} opened", ref=f"refs/heads/pr-{number}")
    fake.set_pull(REPO, number, head_sha=first)
    system.pull_request(project, "opened", number, first)
    second = github.push(f"PR {number} pushed", ref=f"refs/heads/pr-{number}")
    fake.set_pull(REPO, number, head_sha=second)
    system.pull_request(project, "synchronize", number, second)
    return [first, second]


def close(github: GitHubSystem, project: dict[str, Any], number: int, head: str) -> None:
    github.fake.set_pull(REPO, number, head_sha=head, state="closed")
    github.system.pull_request(project, "closed", number, head)


def settled(github: GitHubSystem, project: dict[str, Any], closed: dict[int, list[str]]) -> bool:
    """GitHub shows nothing unfinished, and every PR workflow completed: a run ends only once its last
    report got through, so a sha with no commit status yet (superseded before any report) has it too."""
    if github.loose_ends(closed):
        return False
    return all(github.system.workflow_status(project["id"], number) == "COMPLETED" for number in closed)


def check_every_sha(github: GitHubSystem, project: dict[str, Any], number: int) -> None:
    """Each sha's GitHub side matches how its deployment ended in Postgres."""
    rows = github.system.deployments(project["id"], number)
    newer = {row["commit_sha"]: rows[i + 1]["commit_sha"] for i, row in enumerate(rows[:-1])}
    for row in rows:
        sha, status = row["commit_sha"], row["status"]
        ours = [d for d in github.pr_deployments(number) if d["sha"] == sha]
        for deployment in ours:
            assert github.deployment_states(deployment)[-1] in FINAL_AFTER_CLOSE, (sha, status)
        last = github.commit_statuses(sha)[-1]
        if status == DeploymentStatus.SUPERSEDED:
            assert (last["state"], last["description"]) == ("error", f"superseded by {newer[sha][:7]}")
            assert all(github.deployment_states(d)[-1] == "inactive" for d in ours)
        elif status in (DeploymentStatus.REPLACED, DeploymentStatus.DESTROYED):
            assert last["state"] == "success", (sha, status)
            # It went live: success, then inactive, even where its "ready" was collapsed away.
            for deployment in ours:
                states = github.deployment_states(deployment)
                assert states[-2:] == ["success", "inactive"], (sha, status, states)
        else:
            raise AssertionError(f"{sha[:7]} ended {status} in Postgres")


def test_pr31_push_at_once_then_close_leaves_nothing_pending(github: GitHubSystem) -> None:
    """The held-out run's PR 31: its first sha's deployment stayed `queued` and the second got none."""
    number = 131
    project = github.add_project(9131)
    shas = open_push_close(github, project, number)
    github.system.wait_status(project["id"], number, shas[-1], "active")
    wait_for(partial(github.told, number, shas[-1], "success"), timeout=60, what="the PR told ready")
    close(github, project, number, shas[-1])
    github.system.wait_status(project["id"], number, shas[-1], "destroyed")
    wait_for(partial(settled, github, project, {number: shas}), timeout=CONVERGED_WITHIN, what="GitHub final")
    check_every_sha(github, project, number)
    newest = [d for d in github.pr_deployments(number) if d["sha"] == shas[-1]]
    assert len(newest) == 1 and github.deployment_states(newest[0])[-2:] == ["success", "inactive"]


def test_with_30_percent_of_github_calls_failing_every_deployment_ends_final(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    numbers = [141, 142, 143]
    projects = {number: github.add_project(9000 + number) for number in numbers}
    fake.fault_rng = random.Random(141)
    fake.fail_rate = 0.3
    injected_before = sum(call.injected for call in fake.calls)
    try:
        shas = {number: open_push_close(github, projects[number], number) for number in numbers}
        for number in numbers:
            system.wait_status(projects[number]["id"], number, shas[number][-1], "active", timeout=180)
        for number in numbers:
            close(github, projects[number], number, shas[number][-1])
        for number in numbers:
            system.wait_status(projects[number]["id"], number, shas[number][-1], "destroyed", timeout=180)
        for number in numbers:
            wait_for(partial(settled, github, projects[number], {number: shas[number]}),
                     timeout=CONVERGED_WITHIN, what=f"PR #{number} final on GitHub")  # fmt: skip
    finally:
        fake.fail_rate = 0.0
    assert sum(call.injected for call in fake.calls) > injected_before
    for number in numbers:
        check_every_sha(github, projects[number], number)
