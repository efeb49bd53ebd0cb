"""No pull request missed (issue 12, part 4), through the real web app, worker, Postgres and Temporal
against the GitHub fake, which sends the App's webhooks to the web app itself:

- a delivery refused while the web app was down is found in the App's delivery log and redelivered,
  once (across a worker restart), and the PR gets its preview; a delivery that got a 2xx is not;
- the drift reconcile picks up a PR opened while the App's webhook was off (not one opened before the
  repository was connected), closes one closed then,
  reopens one reopened then, leaves a destroyed preview with an unchanged head alone, and a second
  look at an unchanged repository costs a 304.

The reconciles' schedules are off in these systems; each test runs the workflow as its schedule would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client

from tests.integration.github_system import REPO, GitHubSystem, github_system
from tests.integration.system import System, wait_for, web_healthy
from workflows.github_reconcile import DriftWorkflow, RedeliveryWorkflow
from workflows.github_reconcile_io import DriftInput, DriftResult, RedeliverInput, RedeliverResult
from workflows.signals import workflow_id_for


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubSystem]:
    with github_system(tmp_path_factory.mktemp("no-pr-missed")) as running:
        yield running


@pytest.fixture(scope="module")
def project(gh: GitHubSystem) -> dict[str, Any]:
    # The repository's real id, as GitHub's payloads and pull listings carry it (a different one would
    # make every head look like a fork's).
    return gh.add_project(gh.fake.repo_ids[REPO])


def redeliver(system: System) -> RedeliverResult:
    async def run() -> RedeliverResult:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        return await client.execute_workflow(
            RedeliveryWorkflow.run, RedeliverInput(), id=f"test-redelivery-{uuid.uuid4()}",
            task_queue=system.env["TEMPORAL_TASK_QUEUE"],
        )  # fmt: skip

    return asyncio.run(run())


def drift(system: System, project: dict[str, Any]) -> DriftResult:
    async def run() -> list[DriftResult]:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        return await client.execute_workflow(
            DriftWorkflow.run, DriftInput(project_id=project["id"]), id=f"test-drift-{uuid.uuid4()}",
            task_queue=system.env["TEMPORAL_TASK_QUEUE"],
        )  # fmt: skip

    results = asyncio.run(run())
    assert len(results) == 1, results
    return results[0]


def about(result: DriftResult, number: int) -> list[str]:
    return [a for a in result.actions if f"PR #{number} " in a]


def open_pr(gh: GitHubSystem, number: int, message: str) -> str:
    sha = gh.push(message, ref=f"refs/heads/pr-{number}")
    gh.fake.set_pull(REPO, number, head_sha=sha, head_ref=f"pr-{number}")
    return sha


def restart(system: System, name: str) -> None:
    if name == "worker":
        system.kill_worker()
    else:
        system.children[name].stop()
    system.start_child(name)
    wait_for(lambda: web_healthy(system.base_url, list(system.children.values())), what="web /healthz")


def test_a_delivery_refused_while_the_web_app_was_down_is_redelivered_once_and_deployed(
    gh: GitHubSystem, project: dict[str, Any]
) -> None:
    system, hooks = gh.system, gh.fake.hooks
    ok_sha = open_pr(gh, 41, "delivered")
    delivered = gh.pull_request_event(41, "opened")
    assert delivered is not None and delivered.ok

    system.children["web"].stop()
    sha = open_pr(gh, 42, "refused")
    refused = gh.pull_request_event(42, "opened")
    assert refused is not None and (refused.status, refused.status_code) == ("failed to connect", 502)
    open_pr(gh, 46, "opened while the web app was down")
    overtaken = gh.pull_request_event(46, "opened")
    assert overtaken is not None and not overtaken.ok
    restart(system, "web")
    # PR 46 moves on and that event arrives: sending its "opened" now would deploy the older head.
    newer_46 = open_pr(gh, 46, "pushed once the web app was back")
    assert (gh.pull_request_event(46, "synchronize") or pytest.fail("not sent")).ok

    # GitHub accepts the ask and sends later: the second scan, after a worker restart, sees the same
    # failed attempt as the newest of its event and must not ask again.
    hooks.hold_redeliveries = True
    try:
        first = redeliver(system)
        restart(system, "worker")
        second = redeliver(system)
    finally:
        hooks.hold_redeliveries = False
    assert first.asked == [refused.guid]
    assert system.rows(
        "SELECT asked, reason FROM redelivery_requests WHERE github_delivery_id = :i", i=overtaken.id
    ) == [{"asked": False, "reason": "PR #46 had a later event; the drift reconcile covers the rest"}]
    assert second.asked == []
    assert hooks.redelivery_requests == [refused.id]
    assert (
        system.rows("SELECT count(*) AS n FROM redelivery_requests WHERE guid = :g", g=refused.guid)[0]["n"]
        == 1
    )

    (again,) = hooks.release_held()
    assert again.ok and again.redelivery and again.guid == refused.guid
    system.wait_status(project["id"], 42, sha, "active")
    system.wait_status(project["id"], 41, ok_sha, "active")
    system.wait_status(project["id"], 46, newer_46, "active")
    # A redelivery of an event that reached us is acknowledged and not acted on twice.
    hooks.hold_redeliveries = True
    try:
        hooks.held.append(delivered)
        (duplicate,) = hooks.release_held()
    finally:
        hooks.hold_redeliveries = False
    assert duplicate.ok
    for guid in (refused.guid, delivered.guid):
        assert (
            system.rows("SELECT count(*) AS n FROM webhook_deliveries WHERE delivery_id = :g", g=guid)[0]["n"]
            == 1
        )
    assert [d["commit_sha"] for d in system.deployments(project["id"], 42)] == [sha]
    # Nothing is left to ask for: the event got its 2xx.
    assert redeliver(system).asked == []


def test_drift_deploys_a_pr_opened_while_webhooks_were_off_and_a_second_look_costs_a_304(
    gh: GitHubSystem, project: dict[str, Any]
) -> None:
    system, fake = gh.system, gh.fake
    fake.hooks.active = False
    try:
        sha = open_pr(gh, 43, "opened while webhooks were off")
        assert gh.pull_request_event(43, "opened") is None
        # Open since before the repository was connected: the dashboard's one-click deploy's, not drift's.
        open_pr(gh, 47, "opened long ago")
        fake.pulls[(REPO, 47)]["created_at"] = "2020-01-02T03:04:05Z"
        found = drift(system, project)
    finally:
        fake.hooks.active = True
    message = f"drift: PR #43 at {sha[:7]} had no preview; queued a push"
    assert about(found, 43) == [message] and about(found, 47) == []
    system.wait_status(project["id"], 43, sha, "active")
    audit = system.rows(
        "SELECT actor, action, detail FROM audit_events WHERE project_id = :p AND pr_number = 43",
        p=project["id"],
    )
    assert [(a["actor"], a["action"], a["detail"]["message"]) for a in audit] == [
        ("drift", "drift push", message)
    ]
    dashboard = system.dashboard()
    try:
        page = dashboard.get(f"/projects/{project['id']}")
    finally:
        dashboard.close()
    assert page.status_code == 200 and message in page.text

    calls = len(fake.calls)
    unchanged = drift(system, project)
    assert unchanged.not_modified and about(unchanged, 43) == []
    listings = [c for c in fake.calls[calls:] if c.method == "GET" and c.path == f"/repos/{REPO}/pulls"]
    assert listings and all(c.status == 304 for c in listings)


def test_drift_closes_a_pr_closed_while_webhooks_were_off_and_reopens_it_when_reopened(
    gh: GitHubSystem, project: dict[str, Any]
) -> None:
    system, fake = gh.system, gh.fake
    sha = open_pr(gh, 44, "to be closed quietly")
    assert (gh.pull_request_event(44, "opened") or pytest.fail("not sent")).ok
    system.wait_status(project["id"], 44, sha, "active")
    fake.hooks.active = False
    try:
        fake.set_pull(REPO, 44, head_sha=sha, state="closed")
        closed = drift(system, project)
        assert about(closed, 44) == [
            "drift: PR #44 was closed on GitHub while its preview ran; queued a close"
        ]
        system.wait_status(project["id"], 44, sha, "destroyed")
        wait_for(lambda: system.workflow_status(project["id"], 44) == "COMPLETED", what="PR #44's run ended")
        assert about(drift(system, project), 44) == []

        fake.set_pull(REPO, 44, head_sha=sha, state="open")
        reopened = drift(system, project)
    finally:
        fake.hooks.active = True
    assert about(reopened, 44) == [f"drift: PR #44 at {sha[:7]} was closed and is open again; queued a push"]
    wait_for(
        lambda: [d["status"] for d in system.deployments(project["id"], 44)] == ["destroyed", "active"],
        what="PR #44 live again",
    )


def test_a_destroyed_preview_with_an_unchanged_head_stays_destroyed_and_a_new_head_deploys(
    gh: GitHubSystem, project: dict[str, Any]
) -> None:
    system, fake = gh.system, gh.fake
    sha = open_pr(gh, 45, "to be destroyed")
    assert (gh.pull_request_event(45, "opened") or pytest.fail("not sent")).ok
    system.wait_status(project["id"], 45, sha, "active")
    with system.api() as client:
        asked = client.post(f"/api/projects/{project['id']}/pulls/45/destroy")
    assert asked.status_code == 202, asked.text
    system.wait_status(project["id"], 45, sha, "destroyed")

    assert about(drift(system, project), 45) == []
    assert [d["status"] for d in system.deployments(project["id"], 45)] == ["destroyed"]

    fake.hooks.active = False
    try:
        newer = open_pr(gh, 45, "pushed while webhooks were off")
        moved = drift(system, project)
    finally:
        fake.hooks.active = True
    assert about(moved, 45) == [f"drift: PR #45 at {newer[:7]} moved on from {sha[:7]}; queued a push"]
    system.wait_status(project["id"], 45, newer, "active")


def test_drift_restarts_the_workflow_of_an_open_pr_whose_run_was_terminated(
    gh: GitHubSystem, project: dict[str, Any]
) -> None:
    """A PR's run ends only at its close: an open PR whose run was terminated (by an operator in the
    Temporal UI, say) gets a push, and its preview is built again by a new run."""
    system = gh.system
    sha = open_pr(gh, 48, "its run will be terminated")
    assert (gh.pull_request_event(48, "opened") or pytest.fail("not sent")).ok
    first = system.wait_status(project["id"], 48, sha, "active")
    assert about(drift(system, project), 48) == []  # running: nothing to do

    async def terminate() -> None:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        handle = client.get_workflow_handle(workflow_id_for(project["id"], 48))
        await handle.terminate("test: an operator ended it")

    asyncio.run(terminate())
    found = drift(system, project)
    assert about(found, 48) == [f"drift: PR #48 at {sha[:7]} had no running workflow; queued a push"]
    wait_for(lambda: system.workflow_status(project["id"], 48) == "RUNNING", what="a new run of PR #48")
    wait_for(
        lambda: [d["status"] for d in system.deployments(project["id"], 48)] == ["replaced", "active"],
        what="PR #48 built again by the new run",
    )
    assert system.preview(first["app_name"]).status_code == 200
    assert about(drift(system, project), 48) == []
