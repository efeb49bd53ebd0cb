"""Fork PRs and `/preview` commands, through signed webhooks, the real worker and the GitHub fake."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cli.webhook_client import pull_request_payload
from tests.integration.github_system import REPO, GitHubSystem, before, fork_repository, iso
from tests.integration.system import wait_for
from tests.unit.test_github_events import load_payload
from web.dashboard.config_form import values_of


def fork_pull_request(
    github: GitHubSystem,
    project: dict[str, object],
    action: str,
    number: int,
    sha: str,
    *,
    head_repo: dict[str, object] | None,
    pushed: datetime,
    base_sha: str = "0" * 40,
) -> None:
    payload = pull_request_payload(
        action=action,
        number=number,
        sha=sha,
        repo_id=int(str(project["github_repo_id"])),
        repo_full_name=REPO,
        author="visitor",
        head_repo=head_repo,
        updated_at=iso(pushed),
        base_sha=base_sha,
    )
    response = github.system.webhook("pull_request", payload)
    assert response.status_code == 202, response.text


def test_a_fork_pr_waits_for_a_members_approval_and_an_outsiders_is_refused(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 20
    project = github.add_project(9020)
    ref = f"refs/pull/{number}/head"
    sha = github.push("from a fork", ref=ref)
    fake.set_pull(REPO, number, head_sha=sha)
    fork_pull_request(github, project, "opened", number, sha, head_repo=fork_repository(), pushed=before(5))

    wait_for(lambda: "Waiting for approval" in github.sticky(number), timeout=60, what="the PR told to wait")
    assert "/preview approve" in github.sticky(number)
    assert system.deployments(project["id"], number) == []  # nothing built, no secret handed out
    wait_for(lambda: github.commit_states(sha) == ["pending"], timeout=30, what="a pending commit status")

    # Someone without a say over the repository, and an organization MEMBER who can only read it
    # (author_association says MEMBER; GitHub's permission says read): refused on the PR.
    # One after the other: the sticky comment carries the latest notice only.
    for who, association in (("visitor", "CONTRIBUTOR"), ("member-reader", "MEMBER")):
        github.comment(project, number, "/preview approve", login=who, association=association)
        refusal = f"@{who}: `/preview approve` was not carried out: it needs push access"
        wait_for(partial(_says, github, number, refusal), timeout=60, what=f"{who} refused")
    asked = [c.path for c in fake.calls if c.path.endswith("/permission")]
    assert f"/repos/{REPO}/collaborators/member-reader/permission" in asked
    assert "Waiting for approval" in github.sticky(number)
    assert system.deployments(project["id"], number) == []

    # A member approves: that sha goes live, and the PR is told.
    github.comment(project, number, "/preview approve", login="maintainer", association="MEMBER")
    system.wait_status(project["id"], number, sha, "active")
    wait_for(lambda: github.told(number, sha, "success"), timeout=60, what="the PR told ready")

    # A new push from the fork, whose repository has since been deleted (`head.repo: null`): it waits
    # for a new approval while the approved sha keeps serving.
    newer = github.push("more from the fork", ref=ref)
    fake.set_pull(REPO, number, head_sha=newer)
    fork_pull_request(github, project, "synchronize", number, newer, head_repo=None, pushed=datetime.now(UTC))
    wait_for(
        lambda: newer[:12] in github.sticky(number) and "Waiting for approval" in github.sticky(number),
        timeout=60,
        what="the new sha waiting",
    )
    assert [d["commit_sha"] for d in system.deployments(project["id"], number)] == [sha]
    assert system.deployments(project["id"], number)[0]["status"] == "active"

    # A prefix of the sha is refused (a look-alike commit could share it); the full sha is enough
    # whatever its time.
    github.comment(project, number, f"/preview approve {newer[:10]}", login="owner", association="OWNER")
    wait_for(lambda: "is not a full commit sha" in github.sticky(number), timeout=60, what="prefix refused")
    assert [d["commit_sha"] for d in system.deployments(project["id"], number)] == [sha]
    github.comment(project, number, f"/preview approve {newer}", login="owner", association="OWNER")
    system.wait_status(project["id"], number, newer, "active")

    fork_pull_request(github, project, "closed", number, newer, head_repo=None, pushed=datetime.now(UTC))
    system.wait_status(project["id"], number, newer, "destroyed")
    wait_for(lambda: github.told(number, newer, "inactive"), timeout=60, what="the PR told inactive")
    assert len(fake.comments[(REPO, number)]) == 1


def test_a_project_that_trusts_forks_deploys_them_and_one_that_refuses_them_never_does(
    github: GitHubSystem,
) -> None:
    system, fake = github.system, github.fake
    trusting = github.add_project(9021, fork_policy="always")
    sha = github.push("trusted fork", ref="refs/pull/21/head")
    fake.set_pull(REPO, 21, head_sha=sha)
    # Its previewd.toml (none) is the base's: trusted without approval (a change to it would wait).
    fork_pull_request(github, trusting, "opened", 21, sha, head_repo=fork_repository(), pushed=before(1),
                      base_sha=github.branch_sha())  # fmt: skip
    system.wait_status(trusting["id"], 21, sha, "active")

    refusing = github.add_project(9022, fork_policy="never")
    sha = github.push("refused fork", ref="refs/pull/22/head")
    fake.set_pull(REPO, 22, head_sha=sha)
    fork_pull_request(github, refusing, "opened", 22, sha, head_repo=fork_repository(), pushed=before(1))
    wait_for(
        lambda: "does not preview pull requests from forks" in github.sticky(22),
        timeout=60,
        what="the PR told",
    )
    github.comment(refusing, 22, "/preview approve", login="maintainer", association="MEMBER")
    wait_for(
        lambda: "@maintainer: this project does not preview" in github.sticky(22),
        timeout=60,
        what="the approval answered",
    )
    assert system.deployments(refusing["id"], 22) == []


def test_members_steer_a_preview_from_comments_and_a_redelivery_acts_once(
    github: GitHubSystem,
) -> None:
    system, fake = github.system, github.fake
    number = 23
    project = github.add_project(9023)
    sha = github.push("branch pr", ref="refs/heads/draft-work")
    fake.set_pull(REPO, number, head_sha=sha)
    # A draft is previewed like any other PR: seeing it is often why it was opened.
    system.pull_request(project, "opened", number, sha, draft=True)
    live = system.wait_status(project["id"], number, sha, "active")

    # The same delivery twice (GitHub redelivers on request): acted on once.
    destroy = partial(github.comment, project, number, "/preview destroy", login="maintainer",
                      association="COLLABORATOR", delivery_id="comment-destroy-23")  # fmt: skip
    first = destroy()
    assert first.json()["status"] == "queued"
    system.wait_status(project["id"], number, sha, "destroyed")
    again = destroy()
    assert again.json()["status"] == "duplicate"

    github.comment(project, number, "/preview redeploy", login="maintainer", association="MEMBER")
    wait_for(
        lambda: len([d for d in system.deployments(project["id"], number) if d["status"] == "active"]) == 1,
        timeout=90,
        what="the redeployed preview",
    )
    assert len(system.deployments(project["id"], number)) == 2 and live["status"] == "active"

    # An outsider's destroy is refused and the preview stays.
    github.comment(project, number, "/preview destroy", login="drive-by", association="NONE")
    wait_for(lambda: "@drive-by" in github.sticky(number), timeout=60, what="the refusal")
    assert [d["status"] for d in system.deployments(project["id"], number)] == ["destroyed", "active"]

    # A merged close tears it down and leaves the GitHub deployment inactive.
    fake.set_pull(REPO, number, head_sha=sha, state="merged")
    system.pull_request(project, "closed", number, sha, merged=True)
    wait_for(
        lambda: all(d["status"] == "destroyed" for d in system.deployments(project["id"], number)),
        timeout=90,
        what="everything destroyed",
    )
    wait_for(lambda: github.told(number, sha, "inactive"), timeout=60, what="the PR told inactive")
    # A command on a closed PR reaches no workflow and brings nothing back.
    # Its run ends once its last report got through: the session's GitHub fake spends one content
    # budget (70 writes a minute) for every test before this one, so that may wait up to a minute.
    wait_for(lambda: system.workflow_status(project["id"], number) == "COMPLETED", timeout=90,
             what="the PR's workflow to end")  # fmt: skip
    github.comment(
        project,
        number,
        "/preview redeploy",
        login="maintainer",
        association="MEMBER",
        delivery_id="comment-after-close-23",
    )
    wait_for(
        lambda: (
            system.rows(
                "SELECT outcome, reason FROM webhook_deliveries WHERE delivery_id = :d",
                d="comment-after-close-23",
            )[0]["outcome"]
            == "ignored"
        ),
        timeout=30,
        what="the command ignored",
    )
    assert len(system.deployments(project["id"], number)) == 2


def _says(github: GitHubSystem, number: int, text: str) -> bool:
    return text in github.sticky(number)


def real_payload(name: str, project: dict[str, Any], number: int, sha: str) -> dict[str, Any]:
    """One of the octokit example payloads, pointed at our project's repository, PR and commit."""
    payload = load_payload(name)
    repo_id = project["github_repo_id"]
    payload["repository"]["id"] = repo_id
    payload["number"] = payload["pull_request"]["number"] = number
    payload["pull_request"]["head"].update(sha=sha)
    for side in ("head", "base"):
        payload["pull_request"][side]["repo"]["id"] = repo_id
    return payload


def test_the_real_example_payloads_drive_a_preview_and_the_rest_are_ignored(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 24
    project = github.add_project(9024)
    sha = github.push("real payloads", ref="refs/heads/real-payloads")
    fake.set_pull(REPO, number, head_sha=sha)
    opened = system.webhook(
        "pull_request", real_payload("pull_request.opened.payload.json", project, number, sha)
    )
    assert opened.json()["status"] == "queued"
    system.wait_status(project["id"], number, sha, "active")
    for name in (
        "pull_request.labeled.payload.json",
        "pull_request.converted_to_draft.with-installation.payload.json",
    ):
        answer = system.webhook("pull_request", real_payload(name, project, number, sha))
        assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    fake.set_pull(REPO, number, head_sha=sha, state="closed")
    closed = system.webhook(
        "pull_request", real_payload("pull_request.closed.payload.json", project, number, sha)
    )
    assert closed.json()["status"] == "queued"
    system.wait_status(project["id"], number, sha, "destroyed")


def test_switching_the_fork_policy_to_always_releases_a_waiting_fork(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 25
    project = github.add_project(9025)
    sha = github.push("waits, then trusted", ref=f"refs/pull/{number}/head")
    fake.set_pull(REPO, number, head_sha=sha)
    fork_pull_request(github, project, "opened", number, sha, head_repo=fork_repository(), pushed=before(5),
                      base_sha=github.branch_sha())  # fmt: skip
    wait_for(lambda: "Waiting for approval" in github.sticky(number), timeout=60, what="the PR told to wait")

    dashboard = system.dashboard()
    try:
        page = dashboard.get(f"/projects/{project['id']}/settings")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None, page.text[:500]
        form = values_of(project["deployment_config"]) | {
            "fork_policy": "always",
            "csrf_token": csrf.group(1),
        }
        saved = dashboard.post(f"/projects/{project['id']}/settings", data=form)
        assert saved.status_code == 200 and "Settings saved." in saved.text, saved.text[:500]
    finally:
        dashboard.close()
    system.wait_status(project["id"], number, sha, "active")
