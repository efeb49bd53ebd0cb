"""The whole system wired to a loopback fake of GitHub as a GitHub App installation sees it, and the
helpers tests use to act as GitHub (pushes, PR events, comments) and to read what the PR was told."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from tests.fakes.github_hooks import HookAttempt
from tests.integration.system import WEBHOOK_SECRET, AppRepo, System, git, start_system

APP_ID = 4242
INSTALLATION = 77
REPO = "acme/private-app"
FORK = "visitor/private-app"
# Where every GitHub Deployment of a closed PR must end: replaced, superseded, destroyed, or failed.
FINAL_AFTER_CLOSE = frozenset({"inactive", "failure", "error"})


@dataclass
class GitHubSystem:
    system: System
    fake: FakeGitHub
    source: AppRepo

    def add_project(self, repo_id: int, installation: int = INSTALLATION, **config: Any) -> dict[str, Any]:
        with self.system.api() as client:
            created = client.post(
                "/api/projects",
                json={
                    "github_repo_full_name": REPO,
                    "github_repo_id": repo_id,
                    "github_installation_id": installation,
                    "deployment_config": {
                        "build_command": "python3 build.py", "start_command": "python3 server.py", **config,
                    },
                },
            )  # fmt: skip
        assert created.status_code == 201, created.text
        project: dict[str, Any] = created.json()
        return project

    def pull_request_event(self, number: int, action: str) -> HookAttempt | None:
        """GitHub sends a `pull_request` event for the fake's PR `number` (set with `fake.set_pull`),
        the way GitHub shapes it; None when the App's webhook is switched off."""
        return self.fake.send_pull_request_event(REPO, number, action, installation=INSTALLATION)

    def push(self, message: str, ref: str = "refs/heads/feature", files: dict[str, str] | None = None) -> str:
        """A new commit (with `files` written, if given) in the repository GitHub serves (a fork's PR
        head lives under refs/pull/)."""
        sha = self.source.commit(message, files=files) if files else self.source.commit(message)
        git(self.source.path, "push", "--quiet", "--force", str(self.fake.repos[REPO]), f"HEAD:{ref}")
        return sha

    def branch_sha(self, branch: str = "main") -> str:
        """Where a branch of the repository GitHub serves is: a PR's base sha."""
        return git(self.fake.repos[REPO], "rev-parse", f"refs/heads/{branch}")

    def comment(self, project: dict[str, Any], number: int, body: str, *, login: str, association: str,
                delivery_id: str | None = None, at: datetime | None = None) -> httpx.Response:  # fmt: skip
        payload = issue_comment_payload(project, number, body, login=login, association=association, at=at)
        response = self.system.webhook("issue_comment", payload, delivery_id=delivery_id)
        assert response.status_code == 202, response.text
        return response

    def sticky(self, number: int) -> str:
        comments = self.fake.comments.get((REPO, number), [])
        assert len(comments) <= 1, f"{len(comments)} previewd comments on PR #{number}"
        return str(comments[0]["body"]) if comments else ""

    def sticky_history(self, number: int) -> list[str]:
        """Every body the PR's sticky comment has had, oldest first."""
        comments = self.fake.comments.get((REPO, number), [])
        return list(self.fake.comment_bodies.get(int(comments[0]["id"]), [])) if comments else []

    def told(self, number: int, sha: str, state: str) -> bool:
        """Whether the GitHub Deployment of `sha` on PR `number` has a status `state`."""
        deployments = [
            d for d in self.fake.deployments.get(REPO, [])
            if d["environment"] == f"pr-{number}" and d["sha"] == sha
        ]  # fmt: skip
        return bool(deployments) and any(
            s["state"] == state for s in self.fake.deployment_statuses.get(deployments[0]["id"], [])
        )

    def commit_states(self, sha: str) -> list[str]:
        return [
            s["state"] for s in self.fake.commit_statuses.get((REPO, sha), []) if s["context"] == "previewd"
        ]

    def commit_statuses(self, sha: str) -> list[dict[str, Any]]:
        """The `previewd` commit statuses of `sha`, oldest first."""
        return [s for s in list(self.fake.commit_statuses.get((REPO, sha), [])) if s["context"] == "previewd"]

    def pr_deployments(self, number: int) -> list[dict[str, Any]]:
        return [d for d in list(self.fake.deployments.get(REPO, [])) if d["environment"] == f"pr-{number}"]

    def deployment_states(self, deployment: dict[str, Any]) -> list[str]:
        """A GitHub Deployment's statuses, oldest first."""
        return [s["state"] for s in list(self.fake.deployment_statuses.get(deployment["id"], []))]

    def loose_ends(self, closed: dict[int, list[str]]) -> list[str]:
        """What GitHub still shows as unfinished for PRs that were closed (number -> every sha pushed):
        a deployment not in a final state, a sticky comment not saying "Destroyed", a sha whose
        newest `previewd` commit status is `pending`. Empty once GitHub has the whole truth."""
        problems = []
        for number, shas in closed.items():
            for deployment in self.pr_deployments(number):
                states = self.deployment_states(deployment)
                if not states or states[-1] not in FINAL_AFTER_CLOSE:
                    problems.append(f"PR #{number} deployment of {deployment['sha'][:7]}: {states}")
            comments = list(self.fake.comments.get((REPO, number), []))
            if len(comments) != 1 or "Destroyed" not in str(comments[0]["body"]):
                problems.append(f"PR #{number}: {len(comments)} comments, not saying Destroyed")
            for sha in shas:
                statuses = self.commit_statuses(sha)
                if statuses and statuses[-1]["state"] == "pending":
                    problems.append(f"PR #{number} commit {sha[:7]}: pending")
        return problems


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fork_repository(repo_id: int = 555_001) -> dict[str, Any]:
    owner, name = FORK.split("/")
    return {"id": repo_id, "name": name, "full_name": FORK, "private": False, "fork": True,
            "owner": {"login": owner, "id": 9, "type": "User"}, "default_branch": "main"}  # fmt: skip


def issue_comment_payload(
    project: dict[str, Any],
    number: int,
    body: str,
    *,
    login: str,
    association: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An `issue_comment` `created` delivery on a pull request, shaped as docs.github.com documents it."""
    owner, name = REPO.split("/")
    user = {"login": login, "id": abs(hash(login)) % 10**6, "type": "User"}
    created = iso(at or datetime.now(UTC))
    return {
        "action": "created",
        "issue": {
            "number": number, "title": f"PR #{number}", "state": "open", "user": user,
            "pull_request": {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}"},
        },
        "comment": {
            "id": uuid.uuid4().int % 10**9, "body": body, "user": user, "author_association": association,
            "created_at": created, "updated_at": created,
        },
        "repository": {"id": project["github_repo_id"], "name": name, "full_name": REPO,
                       "owner": {"login": owner, "id": 1, "type": "Organization"}},
        "sender": user,
        "installation": {"id": INSTALLATION},
    }  # fmt: skip


def before(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@contextmanager
def github_system(work: Path, extra_env: dict[str, str] | None = None) -> Iterator[GitHubSystem]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = create_fake_github(app_id=APP_ID, public_key_pem=public)
    source = AppRepo.create(work / "private-app")
    bare = work / "private-app.git"
    git(work, "clone", "--quiet", "--bare", str(source.path), str(bare))
    fake.add_repo(REPO, bare)
    fake.add_installation(INSTALLATION, repos=[REPO])
    # Who the tests' comments come from, as GitHub knows them on the repository: `/preview` commands
    # are carried out for push (write and up) only, whatever the comment's author_association says.
    fake.collaborators.update({(REPO, "maintainer"): "write", (REPO, "owner"): "admin",
                               (REPO, "member-reader"): "read"})  # fmt: skip
    fake.known_users.update({"visitor", "drive-by"})
    # A short path: Postgres's socket path must stay under ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="pvd-gh-"))
    with FakeGitHubServer(fake) as server:
        env = {
            "GITHUB_APP_ID": str(APP_ID),
            "GITHUB_APP_PRIVATE_KEY": private.decode(),
            "GITHUB_API_URL": server.url,
            "GITHUB_URL": server.url,
            # The reconciles run when a test runs their workflow, never on their own in between.
            "PREVIEWD_REDELIVERY_INTERVAL_MINUTES": "0",
            "PREVIEWD_DRIFT_INTERVAL_MINUTES": "0",
            **(extra_env or {}),
        }
        system, postgres, temporal = start_system(root, extra_env=env)
        # GitHub sends the App's webhooks to the web app, signed with its secret.
        fake.hooks.url = f"{system.base_url}/webhooks/github"
        fake.hooks.secret = WEBHOOK_SECRET
        try:
            yield GitHubSystem(system, fake, source)
        finally:
            system.stop()
            temporal.stop()
            postgres.stop()
