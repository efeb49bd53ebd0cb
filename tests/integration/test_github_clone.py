"""A private repository of a GitHub App installation, cloned with the installation token, through the
real worker against a loopback fake of GitHub that checks the App JWT and the token on every call."""

from __future__ import annotations

import asyncio
import subprocess
from functools import partial

from temporalio.client import Client

from tests.integration.github_system import REPO, GitHubSystem
from tests.integration.system import git, wait_for


def test_a_private_repo_is_cloned_with_the_installation_token_and_the_token_leaks_nowhere(
    github: GitHubSystem,
) -> None:
    system, fake, source = github.system, github.fake, github.source
    sha = source.commit("private change")
    git(source.path, "push", "--quiet", str(fake.repos[REPO]), "HEAD:refs/heads/feature")
    project = github.add_project(9001)
    fake.set_pull(REPO, 1, head_sha=sha)
    system.pull_request(project, "opened", 1, sha)
    deployment = system.wait_status(project["id"], 1, sha, "active")
    assert sha in system.preview(deployment["app_name"]).text
    assert fake.tokens_issued >= 1
    tokens = list(fake.tokens)
    assert tokens
    # git really authenticated with an installation token, and every API call carried GitHub's headers.
    used = [use for use in fake.git_auth_log if use.repo == REPO and use.status == 200]
    assert used and all(use.username == "x-access-token" and use.token_prefix for use in used)
    assert fake.header_violations == []
    # Nowhere: the deployment's logs, the API, the worker's and web's own logs, the workflow history.
    logs = "\n".join(system.logs(deployment["id"]))
    workflow_id = f"preview-{project['id']}-pr-1"

    async def history() -> str:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        return (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()

    places = {
        "deployment logs": logs,
        "api": system.api().get(f"/api/deployments/{deployment['id']}").text,
        "worker log": (system.root / "logs" / "worker.log").read_text(),
        "web log": (system.root / "logs" / "web.log").read_text(),
        "workflow history": asyncio.run(history()),
    }
    dashboard = system.dashboard()
    try:
        for path in ("/", f"/projects/{project['id']}", f"/deployments/{deployment['id']}",
                     f"/deployments/{deployment['id']}/logs"):  # fmt: skip
            page = dashboard.get(path)
            assert page.status_code == 200, (path, page.status_code)
            assert "script-src 'self'" in page.headers["content-security-policy"]
            places[f"dashboard {path}"] = page.text
    finally:
        dashboard.close()
    for token in tokens:
        for place, text in places.items():
            assert token not in text, f"installation token found in {place}"
    # The clone was taken down with the preview's files or is still live; either way, no token in git config.
    for config in (system.root / "data" / "work").glob("*/src/.git/config"):
        text = config.read_text()
        assert all(token not in text for token in tokens) and "extraheader" not in text.lower()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert all(token not in ps for token in tokens)


def test_a_pr_life_leaves_one_comment_one_deployment_per_sha_and_ends_inactive(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 2
    project = github.add_project(9000 + number)
    shas = []
    for i in range(4):  # open, then three pushes
        sha = github.push(f"life {i}")
        fake.set_pull(REPO, number, head_sha=sha)
        system.pull_request(project, "opened" if i == 0 else "synchronize", number, sha)
        system.wait_status(project["id"], number, sha, "active")
        wait_for(partial(github.told, number, sha, "success"), timeout=60, what="GitHub told ready")
        shas.append(sha)
    fake.set_pull(REPO, number, head_sha=shas[-1], state="closed")
    system.pull_request(project, "closed", number, shas[-1])
    system.wait_status(project["id"], number, shas[-1], "destroyed")
    wait_for(lambda: github.told(number, shas[-1], "inactive"), timeout=60, what="GitHub told inactive")

    comments = fake.comments[(REPO, number)]
    assert len(comments) == 1 and "previewd:sticky-comment" in comments[0]["body"]
    assert "Destroyed" in comments[0]["body"]
    ours = [d for d in fake.deployments[REPO] if d["environment"] == f"pr-{number}"]
    assert sorted(d["sha"] for d in ours) == sorted(shas)  # one deployment per deployed sha
    for deployment in ours:
        states = [s["state"] for s in fake.deployment_statuses[deployment["id"]]]
        # Phases on the way may collapse into "ready" (a quick build); each live sha then ends inactive
        # once the next one replaced it, the last one once the PR closed.
        assert states[-2:] == ["success", "inactive"], states
        assert set(states) <= {"queued", "in_progress", "success", "inactive"}
        assert all(d["transient_environment"] and not d["production_environment"] for d in [deployment])
    last = next(d for d in ours if d["sha"] == shas[-1])
    assert fake.deployment_statuses[last["id"]][-1]["state"] == "inactive"
    success = next(s for s in fake.deployment_statuses[last["id"]] if s["state"] == "success")
    assert success["environment_url"].startswith("http://pr-")
    # The link goes to the deployment's page in the dashboard.
    last_row = system.deployments(project["id"], number)[-1]
    assert success["log_url"] == f"{system.base_url}/deployments/{last_row['id']}"
    for sha in shas:
        assert [s["state"] for s in fake.commit_statuses[(REPO, sha)] if s["context"] == "previewd"][
            -1
        ] == "success"


def test_with_30_percent_of_github_calls_failing_every_preview_goes_live_and_every_pr_ends_told(
    github: GitHubSystem,
) -> None:
    system, fake = github.system, github.fake
    numbers = [3, 4, 5]
    projects = {number: github.add_project(9000 + number) for number in numbers}
    heads: dict[int, str] = {}
    fake.fail_rate = 0.3
    try:
        for number in numbers:
            heads[number] = github.push(f"flaky github {number}")
            fake.set_pull(REPO, number, head_sha=heads[number])
            system.pull_request(projects[number], "opened", number, heads[number])
        for number in numbers:
            system.wait_status(projects[number]["id"], number, heads[number], "active")
            wait_for(partial(github.told, number, heads[number], "success"), timeout=120,
                     what=f"PR #{number} told ready, despite failures")  # fmt: skip
            fake.set_pull(REPO, number, head_sha=heads[number], state="closed")
            system.pull_request(projects[number], "closed", number, heads[number])
        for number in numbers:
            system.wait_status(projects[number]["id"], number, heads[number], "destroyed")
            wait_for(partial(github.told, number, heads[number], "inactive"), timeout=120,
                     what=f"PR #{number} told inactive, despite failures")  # fmt: skip
            wait_for(partial(_comment_says, github, number, "Destroyed"), timeout=60, what="the comment")
    finally:
        fake.fail_rate = 0.0
    for number in numbers:
        assert len(fake.comments[(REPO, number)]) == 1
        assert github.commit_states(heads[number])[-1] == "success"
    assert any(call.injected for call in fake.calls)


def test_repeated_reads_are_conditional_and_cost_no_rate_limit(github: GitHubSystem) -> None:
    """The reporter re-reads the PR and its deployments; unchanged answers come back as 304."""
    fake = github.fake
    not_modified = [call for call in fake.calls if call.status == 304]
    assert not_modified, "no conditional GET was answered 304"
    assert all(call.method == "GET" for call in not_modified)


def _comment_says(github: GitHubSystem, number: int, text: str) -> bool:
    return text in github.sticky(number)
