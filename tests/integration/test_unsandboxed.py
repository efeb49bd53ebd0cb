"""Where no sandbox can be had (here: PREVIEWD_SANDBOX=off), previewd runs for one person and says so,
and refuses what would hand PR code to strangers: forks are not previewed whatever the policy."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.integration.system import AppRepo, System, start_system, wait_for
from workflows.preview import PreviewWorkflow
from workflows.signals import workflow_id_for
from workflows.vocabulary import Phase

BANNER = "unsandboxed: PR code runs as previewd"
FORK = {"id": 999_001, "full_name": "stranger/app", "fork": True, "name": "app"}


@pytest.fixture(scope="module")
def unsandboxed() -> Iterator[System]:
    root = Path(tempfile.mkdtemp(prefix="pvd-"))
    running, postgres, temporal = start_system(root, extra_env={"PREVIEWD_SANDBOX": "off"})
    try:
        yield running
    finally:
        running.stop()
        temporal.stop()
        postgres.stop()


def phase(system: System, project_id: str, number: int) -> Phase | None:
    async def query() -> Phase | None:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        handle = client.get_workflow_handle(workflow_id_for(project_id, number))
        try:
            return (await handle.query(PreviewWorkflow.get_state)).phase
        except Exception:  # not started yet
            return None

    return asyncio.run(query())


def test_it_says_so_in_the_worker_log_and_on_every_page(unsandboxed: System) -> None:
    reports = wait_for(
        lambda: unsandboxed.rows("SELECT sandboxed, reasons FROM sandbox_reports"), what="a report"
    )
    assert reports == [{"sandboxed": False, "reasons": "PREVIEWD_SANDBOX=off"}]
    assert BANNER in unsandboxed.children["worker"].log_file.read_text()
    dashboard = unsandboxed.dashboard()
    try:
        for path in ("/", "/login"):
            assert BANNER in dashboard.get(path).text, path
    finally:
        dashboard.close()


def test_a_fork_is_not_previewed_even_when_the_project_trusts_forks(
    unsandboxed: System, tmp_path: Path
) -> None:
    repo = AppRepo.create(tmp_path / f"app-{uuid.uuid4().hex[:8]}")
    project = unsandboxed.add_project(repo, fork_policy="always")
    fork_sha = repo.commit("from a stranger's fork")
    unsandboxed.pull_request(project, "opened", 71, fork_sha, head_repo=FORK)
    wait_for(lambda: phase(unsandboxed, project["id"], 71) == Phase.FORK_BLOCKED, what="fork_blocked")
    assert unsandboxed.deployments(project["id"], 71) == []
    # A branch of the repository itself still goes live: one person trying previewd out.
    branch_sha = repo.commit("a branch")
    unsandboxed.pull_request(project, "opened", 72, branch_sha)
    deployment = unsandboxed.wait_status(project["id"], 72, branch_sha, "active")
    assert branch_sha in unsandboxed.preview(deployment["app_name"]).text
