"""Where no sandbox can be had (here: PREVIEWD_SANDBOX=off), previewd runs for one person and says so,
and refuses what would hand PR code to strangers: forks are not previewed whatever the policy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from models.db import Database
from models.sign_in import upsert_github_user
from tests.integration.system import AppRepo, System, system_of_its_own, wait_for
from web.sandbox_status import sign_in_refusal
from workflows.preview import PreviewWorkflow
from workflows.signals import workflow_id_for
from workflows.vocabulary import Phase

BANNER = "unsandboxed: PR code runs as previewd"
FORK = {"id": 999_001, "full_name": "stranger/app", "fork": True, "name": "app"}


@pytest.fixture(scope="module")
def unsandboxed() -> Iterator[System]:
    with system_of_its_own("", extra_env={"PREVIEWD_SANDBOX": "off"}) as running:
        yield running


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


def test_github_sign_in_admits_only_its_first_user(unsandboxed: System) -> None:
    async def refusals() -> tuple[str | None, str | None, str | None]:
        db = Database(unsandboxed.database_url, pool_size=1)
        try:
            async with db.session() as session:
                nobody_yet = await sign_in_refusal(session, github_id=501)
                first = await upsert_github_user(session, github_id=501, login="first-one", name=None)
                await upsert_github_user(session, github_id=502, login="second-one", name=None)
                again = await sign_in_refusal(session, github_id=first.github_id or 0)
                stranger = await sign_in_refusal(session, github_id=503)
        finally:
            await db.dispose()
        return nobody_yet, again, stranger

    nobody_yet, again, stranger = asyncio.run(refusals())
    assert nobody_yet is None and again is None
    assert stranger is not None and "first-one" in stranger and "unsandboxed" in stranger
