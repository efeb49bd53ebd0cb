"""The Fly.io platform through the real worker and workflow, against a loopback fake of the Machines
API that validates every request against the published contract (tests/fakes/fly_machines.py)."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fly_machines import EDGE_PREFIX, FakeFly, FakeFlyServer, create_fake_fly
from tests.integration.system import AppRepo, System, start_system, wait_for

TOKEN = "fo1_fake-fly-token-for-tests"
FAKE_FLYCTL = """#!/bin/sh
# Stands in for flyctl's remote builder: prints what a build prints, pushes nothing.
echo "==> Building image with Fly's remote builder ($*)"
echo "--> Pushing image done"
"""


@dataclass
class FlySystem:
    system: System
    fake: FakeFly


@pytest.fixture(scope="module")
def fly() -> Iterator[FlySystem]:
    root = Path(tempfile.mkdtemp(prefix="pvd-fly-"))
    fake = create_fake_fly(token=TOKEN, other_orgs_apps={"pr-1-taken": "someone-else"})
    tools = root / "bin"
    tools.mkdir()
    (tools / "flyctl").write_text(FAKE_FLYCTL)
    (tools / "flyctl").chmod(0o755)
    with FakeFlyServer(fake) as server:
        env = {
            "PREVIEWD_PLATFORM": "fly",
            "FLY_API_TOKEN": TOKEN,
            "FLY_API_URL": server.url,
            "FLY_PREVIEW_URL_TEMPLATE": f"{server.url}{EDGE_PREFIX}/{{app}}/",
            "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        system, postgres, temporal = start_system(root, extra_env=env)
        try:
            yield FlySystem(system, fake)
        finally:
            system.stop()
            temporal.stop()
            postgres.stop()


def fly_project(fly: FlySystem, repo: AppRepo, **fly_config: object) -> dict[str, Any]:
    return fly.system.add_project(
        repo, fly_config=fly_config, start_command=None, build_command=None, port=8080
    )


def test_a_pr_life_makes_one_app_and_updates_one_machine(fly: FlySystem, repo: AppRepo) -> None:
    system, fake = fly.system, fly.fake
    project = fly_project(fly, repo)
    shas = [repo.commit(f"version {i}") for i in range(3)]
    system.pull_request(project, "opened", 1, shas[0])
    first = system.wait_status(project["id"], 1, shas[0], "active")
    app = first["app_name"]
    assert app == f"pr-1-{repo.path.name}"
    for sha in shas[1:]:
        system.pull_request(project, "synchronize", 1, sha)
        system.wait_status(project["id"], 1, sha, "active")
    machines = fake.machines[app]
    assert len(machines) == 1
    (machine_id,) = machines
    assert fake.machine_meta[app][machine_id].versions == 3  # created once, updated twice
    assert machines[machine_id]["config"]["metadata"]["previewd_sha"] == shas[-1]
    # Secrets were set before the machine booted, and it was told to wait for them.
    meta = fake.machine_meta[app][machine_id]
    assert meta.min_secrets_version is not None and meta.min_secrets_version >= 1
    assert fake.secrets[app]["COMMIT_SHA"] == shas[-1] and fake.secrets[app]["PR_NUMBER"] == "1"
    kinds = {("." in ip["ip"], ":" in ip["ip"]) for ip in fake.ips[app]}
    assert kinds == {(True, False), (False, True)}
    build_log = system.logs(first["id"])
    assert any("Building image with Fly's remote builder" in line for line in build_log)
    assert not any(TOKEN in line for line in build_log)

    system.pull_request(project, "closed", 1, shas[-1])
    system.wait_status(project["id"], 1, shas[-1], "destroyed")
    assert app not in fake.apps


def test_an_app_name_held_by_another_org_fails_with_a_clear_message(fly: FlySystem, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / "taken")  # its PR #1 app would be pr-1-taken, held by someone else
    project = fly_project(fly, repo)
    sha = repo.commit("mine")
    fly.system.pull_request(project, "opened", 1, sha)
    failed = fly.system.wait_status(project["id"], 1, sha, "failed")
    assert "taken by another organization" in failed["error"]
    # Closing the PR tears down only what previewd made: never a DELETE of the other org's app, even
    # for a token that could reach it.
    fly.system.pull_request(project, "closed", 1, sha)
    wait_for(lambda: fly.system.workflow_status(project["id"], 1) == "COMPLETED", timeout=60,
             what="the PR's workflow to end")  # fmt: skip
    assert not [
        c for c in fly.fake.calls if c.method == "DELETE" and c.path == f"/v1/apps/{failed['app_name']}"
    ]


def test_a_bad_token_fails_naming_the_variable(fly: FlySystem, repo: AppRepo) -> None:
    project = fly_project(fly, repo, image="registry.fly.io/prebuilt:1")
    sha = repo.commit("bad token")
    fly.fake.token = "a-different-token"
    try:
        fly.system.pull_request(project, "opened", 2, sha)
        failed = fly.system.wait_status(project["id"], 2, sha, "failed")
    finally:
        fly.fake.token = TOKEN
    assert "FLY_API_TOKEN is invalid or lacks access to org personal" in failed["error"]
    assert "fly-request-id" in failed["error"]


def test_no_capacity_fails_and_a_fallback_region_saves_it(
    fly: FlySystem, repo: AppRepo, tmp_path: Path
) -> None:
    fly.fake.capacity_regions = {"ams"}
    try:
        stuck = fly_project(fly, repo, image="registry.fly.io/prebuilt:1")
        sha = repo.commit("no room")
        fly.system.pull_request(stuck, "opened", 3, sha)
        failed = fly.system.wait_status(stuck["id"], 3, sha, "failed", timeout=120)
        assert "no Fly capacity in iad" in failed["error"] and "fallback regions" in failed["error"]

        other = AppRepo.create(tmp_path / f"fallback-{uuid.uuid4().hex[:6]}")
        saved = fly_project(
            fly, other, image="registry.fly.io/prebuilt:1", region="iad", fallback_regions=["ams"]
        )
        sha = other.commit("room elsewhere")
        fly.system.pull_request(saved, "opened", 3, sha)
        live = fly.system.wait_status(saved["id"], 3, sha, "active", timeout=120)
        (machine,) = fly.fake.machines[live["app_name"]].values()
        assert machine["region"] == "ams"
    finally:
        fly.fake.capacity_regions = None


def test_twenty_prs_go_live_and_leave_nothing_behind_with_30_percent_of_calls_failing(
    fly: FlySystem, tmp_path: Path
) -> None:
    system, fake = fly.system, fly.fake
    repo = AppRepo.create(tmp_path / f"flaky-{uuid.uuid4().hex[:6]}")
    project = fly_project(fly, repo, image="registry.fly.io/prebuilt:1")
    sha = repo.commit("flaky")
    prs = range(100, 120)
    fake.fail_rate = 0.3
    try:
        for number in prs:
            system.pull_request(project, "opened", number, sha)
        for number in prs:
            system.wait_status(project["id"], number, sha, "active", timeout=300)
        for number in prs:
            system.pull_request(project, "closed", number, sha)
        for number in prs:
            system.wait_status(project["id"], number, sha, "destroyed", timeout=300)
    finally:
        fake.fail_rate = 0.0
    ours = [name for name in fake.apps if name.endswith(repo.path.name)]
    assert ours == []
    failed_calls = [call for call in fake.calls if call.status >= 429]
    assert len(failed_calls) > 20  # the faults really happened
    started = time.monotonic()
    wait_for(lambda: True, timeout=1)
    assert time.monotonic() - started < 2


def test_fly_gc_destroys_only_apps_with_no_open_pr_and_the_schedule_runs_it_hourly(
    fly: FlySystem, repo: AppRepo
) -> None:
    import asyncio
    import subprocess
    import sys

    import httpx
    from temporalio.client import Client

    system, fake = fly.system, fly.fake
    project = fly_project(fly, repo, image="registry.fly.io/prebuilt:1")
    sha = repo.commit("kept")
    system.pull_request(project, "opened", 5, sha)
    kept = system.wait_status(project["id"], 5, sha, "active")["app_name"]
    # An app left behind by a PR whose workflow is long gone.
    api = httpx.Client(base_url=system.env["FLY_API_URL"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.post("/v1/apps", json={"name": "pr-77-orphan", "org_slug": "personal"}).status_code == 201
    metadata = {"previewd_project": str(uuid.uuid4()), "previewd_pr": "77", "previewd_sha": "f" * 40}
    machine = {"config": {"image": "registry.fly.io/x:1", "metadata": metadata}, "region": "iad"}
    assert api.post("/v1/apps/pr-77-orphan/machines", json=machine).status_code == 200

    def gc(*flags: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "fly", "gc", *flags],
            env=system.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    dry = gc()
    assert "destroy" in dry and "pr-77-orphan" in dry and "would be destroyed" in dry
    assert "pr-77-orphan" in fake.apps
    applied = gc("--apply")
    assert "destroyed" in applied
    assert "pr-77-orphan" not in fake.apps and kept in fake.apps

    async def schedule_interval() -> float:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        described = await client.get_schedule_handle("previewd-fly-reconcile").describe()
        return described.schedule.spec.intervals[0].every.total_seconds()

    assert asyncio.run(schedule_interval()) == 3600
