"""`installation` and `installation_repositories` deliveries keep the installations table current and
switch projects off (tearing their previews down) and on again."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from models.locks import repository_key
from tests.integration.github_system import REPO, GitHubSystem
from tests.integration.system import System, wait_for
from tests.unit.test_github_events import load_payload

# An installation of its own, so that suspending or deleting it leaves the other tests' projects be.
INSTALLATION = 88


def add_project(github: GitHubSystem, repo_id: int) -> dict[str, Any]:
    if INSTALLATION not in github.fake.installations:
        github.fake.add_installation(INSTALLATION, repos=[REPO])
    return github.add_project(repo_id, installation=INSTALLATION)


def installation_payload(name: str, action: str | None = None, repo_id: int | None = None) -> dict[str, Any]:
    """A real example payload, pointed at our installation and repository."""
    payload = load_payload(name)
    payload["installation"]["id"] = INSTALLATION
    if action:
        payload["action"] = action
    for key in ("repositories", "repositories_added", "repositories_removed"):
        for repo in payload.get(key) or []:
            repo.update(id=repo_id or repo["id"], full_name=REPO)
    return payload


def project_row(system: System, project: dict[str, Any]) -> dict[str, Any]:
    columns = "is_active, disabled_reason, github_installation_id"
    [row] = system.rows(f"SELECT {columns} FROM projects WHERE id = :p", p=project["id"])
    return row


def send(system: System, event: str, payload: dict[str, Any], delivery_id: str | None = None) -> str:
    response = system.webhook(event, payload, delivery_id=delivery_id)
    assert response.status_code == 202, response.text
    return str(response.json()["status"])


def live(github: GitHubSystem, project: dict[str, Any], number: int) -> str:
    sha = github.push(f"installation test {number}", ref=f"refs/heads/inst-{number}")
    github.fake.set_pull(REPO, number, head_sha=sha)
    github.system.pull_request(project, "opened", number, sha)
    github.system.wait_status(project["id"], number, sha, "active")
    return sha


def test_suspending_the_installation_switches_projects_off_until_unsuspended(
    github: GitHubSystem,
) -> None:
    system = github.system
    project = add_project(github, 9030)
    sha = live(github, project, 30)

    created = installation_payload("installation.created.payload.json", repo_id=9030)
    assert send(system, "installation", created) == "applied"
    [row] = system.rows("SELECT * FROM installations WHERE id = :i", i=INSTALLATION)
    assert row["account_login"] == "Codertocat" and row["suspended_at"] is None

    suspend = installation_payload("installation.created.payload.json", action="suspend")
    assert send(system, "installation", suspend, delivery_id="suspend-1") == "applied"
    assert send(system, "installation", suspend, delivery_id="suspend-1") == "duplicate"
    assert project_row(system, project)["is_active"] is False
    assert project_row(system, project)["disabled_reason"] == "installation suspended"
    system.wait_status(project["id"], 30, sha, "destroyed")
    # While suspended, the repository's events are recorded and ignored.
    ignored = system.pull_request(project, "synchronize", 30, sha)
    assert ignored.json()["status"] == "ignored"

    unsuspend = installation_payload("installation.created.payload.json", action="unsuspend")
    assert send(system, "installation", unsuspend) == "applied"
    assert project_row(system, project) == {"is_active": True, "disabled_reason": None,
                                            "github_installation_id": INSTALLATION}  # fmt: skip
    [row] = system.rows("SELECT suspended_at FROM installations WHERE id = :i", i=INSTALLATION)
    assert row["suspended_at"] is None
    live(github, project, 31)


def test_removing_the_repository_switches_its_project_off_and_adding_it_back_on(github: GitHubSystem) -> None:
    system = github.system
    project = add_project(github, 9032)
    bystander = add_project(github, 9033)
    sha = live(github, project, 32)
    other = live(github, bystander, 33)

    removed = installation_payload("installation_repositories.removed.payload.json", repo_id=9032)
    assert send(system, "installation_repositories", removed) == "applied"
    system.wait_status(project["id"], 32, sha, "destroyed")
    assert project_row(system, project)["disabled_reason"] == "repository removed from the installation"
    # The installation's other repositories are untouched.
    assert project_row(system, bystander)["is_active"] is True
    assert system.deployments(bystander["id"], 33)[-1]["status"] == "active" and other

    added = installation_payload("installation_repositories.added.payload.json", repo_id=9032)
    assert send(system, "installation_repositories", added) == "applied"
    assert project_row(system, project)["is_active"] is True
    live(github, project, 34)


def test_deleting_the_installation_tears_every_preview_down(github: GitHubSystem) -> None:
    system = github.system
    project = add_project(github, 9035)
    shas = {number: live(github, project, number) for number in (35, 36)}

    deleted = installation_payload("installation.deleted.payload.json", repo_id=9035)
    assert send(system, "installation", deleted) == "applied"
    for number, sha in shas.items():
        system.wait_status(project["id"], number, sha, "destroyed")
    # Teardowns go through the outbox as "close_if_running", one per PR.
    outbox = system.rows(
        "SELECT signal, outcome, signal_args FROM webhook_deliveries WHERE project_id = :p AND signal = :s",
        p=project["id"], s="close_if_running",
    )  # fmt: skip
    assert len(outbox) == 2
    assert all(row["signal_args"]["reason"] == "installation deleted" for row in outbox)
    wait_for(lambda: all(row["outcome"] == "dispatched" for row in system.rows(
        "SELECT outcome FROM webhook_deliveries WHERE project_id = :p AND signal = 'close_if_running'",
        p=project["id"])), timeout=30, what="teardowns dispatched")  # fmt: skip
    [row] = system.rows("SELECT deleted_at FROM installations WHERE id = :i", i=INSTALLATION)
    assert row["deleted_at"] is not None
    # Reinstalled (GitHub gives a new installation id): the project comes back on the new one.
    again = installation_payload("installation.created.payload.json", repo_id=9035)
    again["installation"]["id"] = INSTALLATION + 1
    assert send(system, "installation", again) == "applied"
    assert project_row(system, project) == {"is_active": True, "disabled_reason": None,
                                            "github_installation_id": INSTALLATION + 1}  # fmt: skip


def test_switching_a_project_off_waits_for_its_deliveries_in_flight(github: GitHubSystem) -> None:
    """A delivery being recorded holds its repository's lock shared; the removal waits for it, so no
    push recorded before the switch-off can be dispatched after the teardown."""
    system = github.system
    add_project(github, 9037)
    removed = installation_payload("installation_repositories.removed.payload.json", repo_id=9037)
    answers: list[str] = []
    with psycopg.connect(system.database_url) as in_flight:
        in_flight.execute("SELECT pg_advisory_xact_lock_shared(%s)", (repository_key(9037),))
        sender = threading.Thread(
            target=lambda: answers.append(send(system, "installation_repositories", removed))
        )
        sender.start()
        sender.join(timeout=1.5)
        assert sender.is_alive() and not answers, "the removal did not wait for the delivery in flight"
        in_flight.commit()
    sender.join(timeout=30)
    assert answers == ["applied"]
