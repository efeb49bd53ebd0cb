"""A private repository of a GitHub App installation, cloned with the installation token, through the
real worker against a loopback fake of GitHub that checks the App JWT and the token on every call."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.client import Client

from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from tests.integration.system import AppRepo, System, git, start_system, wait_for

APP_ID = 4242
INSTALLATION = 77
REPO = "acme/private-app"


@dataclass
class GitHubSystem:
    system: System
    fake: FakeGitHub
    source: AppRepo


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubSystem]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = create_fake_github(app_id=APP_ID, public_key_pem=public)
    work = tmp_path_factory.mktemp("github")
    source = AppRepo.create(work / "private-app")
    bare = work / "private-app.git"
    git(work, "clone", "--quiet", "--bare", str(source.path), str(bare))
    fake.add_repo(REPO, bare)
    fake.add_installation(INSTALLATION, repos=[REPO])
    root = Path(tempfile.mkdtemp(prefix="pvd-gh-"))
    with FakeGitHubServer(fake) as server:
        env = {
            "GITHUB_APP_ID": str(APP_ID),
            "GITHUB_APP_PRIVATE_KEY": private.decode(),
            "GITHUB_API_URL": server.url,
            "GITHUB_URL": server.url,
        }
        system, postgres, temporal = start_system(root, extra_env=env)
        try:
            yield GitHubSystem(system, fake, source)
        finally:
            system.stop()
            temporal.stop()
            postgres.stop()


def test_a_private_repo_is_cloned_with_the_installation_token_and_the_token_leaks_nowhere(
    github: GitHubSystem,
) -> None:
    system, fake, source = github.system, github.fake, github.source
    sha = source.commit("private change")
    git(source.path, "push", "--quiet", str(fake.repos[REPO]), "HEAD:refs/heads/feature")
    with system.api() as client:
        created = client.post(
            "/api/projects",
            json={
                "github_repo_full_name": REPO,
                "github_repo_id": 9001,
                "github_installation_id": INSTALLATION,
                "deployment_config": {
                    "build_command": "python3 build.py",
                    "start_command": "python3 server.py",
                },
            },
        )
    assert created.status_code == 201, created.text
    project = created.json()
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
    for token in tokens:
        for place, text in places.items():
            assert token not in text, f"installation token found in {place}"
    # The clone was taken down with the preview's files or is still live; either way, no token in git config.
    for config in (system.root / "data" / "work").glob("*/src/.git/config"):
        text = config.read_text()
        assert all(token not in text for token in tokens) and "extraheader" not in text.lower()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert all(token not in ps for token in tokens)


def _add_pr_project(github: GitHubSystem, number: int) -> dict[str, Any]:
    with github.system.api() as client:
        created = client.post(
            "/api/projects",
            json={
                "github_repo_full_name": REPO,
                "github_repo_id": 9000 + number,
                "github_installation_id": INSTALLATION,
                "deployment_config": {
                    "build_command": "python3 build.py",
                    "start_command": "python3 server.py",
                },
            },
        )
    assert created.status_code == 201, created.text
    project: dict[str, Any] = created.json()
    return project


def _push(github: GitHubSystem, message: str) -> str:
    sha = github.source.commit(message)
    git(
        github.source.path,
        "push",
        "--quiet",
        "--force",
        str(github.fake.repos[REPO]),
        "HEAD:refs/heads/feature",
    )
    return sha


def _told(github: GitHubSystem, number: int, sha: str, state: str) -> bool:
    deployments = [
        d
        for d in github.fake.deployments.get(REPO, [])
        if d["environment"] == f"pr-{number}" and d["sha"] == sha
    ]
    return bool(deployments) and any(
        s["state"] == state for s in github.fake.deployment_statuses.get(deployments[0]["id"], [])
    )


def test_a_pr_life_leaves_one_comment_one_deployment_per_sha_and_ends_inactive(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 2
    project = _add_pr_project(github, number)
    shas = []
    for i in range(3):
        sha = _push(github, f"life {i}")
        fake.set_pull(REPO, number, head_sha=sha)
        system.pull_request(project, "opened" if i == 0 else "synchronize", number, sha)
        system.wait_status(project["id"], number, sha, "active")
        wait_for(partial(_told, github, number, sha, "success"), timeout=60, what="GitHub told ready")
        shas.append(sha)
    fake.set_pull(REPO, number, head_sha=shas[-1], state="closed")
    system.pull_request(project, "closed", number, shas[-1])
    system.wait_status(project["id"], number, shas[-1], "destroyed")
    wait_for(lambda: _told(github, number, shas[-1], "inactive"), timeout=60, what="GitHub told inactive")

    comments = fake.comments[(REPO, number)]
    assert len(comments) == 1 and "previewd:sticky-comment" in comments[0]["body"]
    assert "Destroyed" in comments[0]["body"]
    ours = [d for d in fake.deployments[REPO] if d["environment"] == f"pr-{number}"]
    assert sorted(d["sha"] for d in ours) == sorted(shas)  # one deployment per deployed sha
    for deployment in ours:
        states = [s["state"] for s in fake.deployment_statuses[deployment["id"]]]
        assert states[0] in ("queued", "in_progress") and "success" in states
        assert all(d["transient_environment"] and not d["production_environment"] for d in [deployment])
    last = next(d for d in ours if d["sha"] == shas[-1])
    assert fake.deployment_statuses[last["id"]][-1]["state"] == "inactive"
    success = next(s for s in fake.deployment_statuses[last["id"]] if s["state"] == "success")
    assert success["environment_url"].startswith("http://pr-") and "/logs" in success["log_url"]
    for sha in shas:
        assert [s["state"] for s in fake.commit_statuses[(REPO, sha)] if s["context"] == "previewd"][
            -1
        ] == "success"


def test_with_30_percent_of_github_calls_failing_every_preview_goes_live_and_the_pr_is_told(
    github: GitHubSystem,
) -> None:
    system, fake = github.system, github.fake
    number = 3
    project = _add_pr_project(github, number)
    sha = _push(github, "flaky github")
    fake.set_pull(REPO, number, head_sha=sha)
    fake.fail_rate = 0.3
    try:
        system.pull_request(project, "opened", number, sha)
        system.wait_status(project["id"], number, sha, "active")
        wait_for(
            lambda: _told(github, number, sha, "success"), timeout=120, what="the PR told, despite failures"
        )
    finally:
        fake.fail_rate = 0.0
    assert len(fake.comments[(REPO, number)]) == 1
    assert any(call.injected for call in fake.calls)
