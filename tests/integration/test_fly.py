"""The Fly.io platform through the real worker and workflow, against a loopback fake of the Machines
API that validates every request against the published contract (tests/fakes/fly_machines.py)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from runtime.preview_postgres import PreviewCluster
from tests.fakes.fly_machines import EDGE_PREFIX, FakeFly, FakeFlyServer, create_fake_fly
from tests.integration.metric_samples import parse, value
from tests.integration.system import AppRepo, System, start_system, wait_for
from web.dashboard.config_form import values_of

TOKEN = "fo1_fake-fly-token-for-tests"
# A prebuilt image from a public registry: nothing to build.
PUBLIC_IMAGE = "docker.io/library/nginx:1.27"
# Stands in for flyctl's remote builder: prints what a build prints, pushes nothing. Like the real
# CLIs it reads fly.toml from its working directory unless --config names one, and runs docker's
# buildx plugin from the docker config dir (DOCKER_CONFIG, else ~/.docker) when one is there (as
# `docker buildx` or a local build would). It records where it ran and what it read, in {record}.
FAKE_FLYCTL = """#!/bin/sh
config="$PWD/fly.toml"
context="$PWD"
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --build-only|--push|--remote-only) shift ;;
    --*) shift 2 ;;
    deploy) shift ;;
    *) context="$1"; shift ;;
  esac
done
plugin="${{DOCKER_CONFIG:-$HOME/.docker}}/cli-plugins/docker-buildx"
[ -x "$plugin" ] && "$plugin" version
record="{record}/$$.txt"
{{
  echo "tool=flyctl"
  echo "cwd=$PWD"
  echo "home=$HOME"
  echo "docker_config=${{DOCKER_CONFIG:-$HOME/.docker}}"
  echo "fly_config_dir=${{FLY_CONFIG_DIR:-$HOME/.fly}}"
  echo "config=$config"
  echo "context=$context"
  [ -f "$config" ] && echo "config_app=$(grep '^app' "$config")"
  [ -e "$context/.docker" ] && echo "context_holds_the_pr_tree=yes"
}} > "$record"
echo "==> Building image with Fly's remote builder"
echo "--> Pushing image done"
"""

# Stands in for the docker CLI with its buildx plugin. Like docker, it runs `docker-buildx` from the
# docker config dir (DOCKER_CONFIG, else ~/.docker) before the system's plugin; the system's records
# where it ran, as the fake flyctl does.
FAKE_DOCKER = """#!/bin/sh
plugin="${{DOCKER_CONFIG:-$HOME/.docker}}/cli-plugins/docker-$1"
[ -x "$plugin" ] && exec "$plugin" "$@"
context=""
for arg in "$@"; do context="$arg"; done
{{
  echo "tool=docker"
  echo "cwd=$PWD"
  echo "home=$HOME"
  echo "docker_config=${{DOCKER_CONFIG:-$HOME/.docker}}"
  echo "context=$context"
  [ -e "$context/.docker" ] && echo "context_holds_the_pr_tree=yes"
}} > "{record}/docker-$$.txt"
echo "#1 [internal] load build definition from Dockerfile"
echo "#9 pushing layers done"
"""


@dataclass
class FlySystem:
    system: System
    fake: FakeFly
    builds: Path  # one record per run of the fake flyctl
    operator_pg: str  # PREVIEWD_PREVIEW_DATABASE_URL

    def hostile_build(self, tool: str) -> dict[str, str]:
        """What the fake `tool` recorded of its one build of a PR tree holding `.docker/`."""
        found = []
        for path in self.builds.iterdir():
            record = dict(line.split("=", 1) for line in path.read_text().splitlines())
            if record["tool"] == tool and record.get("context_holds_the_pr_tree") == "yes":
                found.append(record)
        [record] = found
        return record


@pytest.fixture(scope="module")
def fly() -> Iterator[FlySystem]:
    root = Path(tempfile.mkdtemp(prefix="pvd-fly-"))
    fake = create_fake_fly(token=TOKEN, other_orgs_apps={"pr-1-taken": "someone-else"})
    tools = root / "bin"
    tools.mkdir()
    builds = root / "builds"
    builds.mkdir()
    (tools / "flyctl").write_text(FAKE_FLYCTL.format(record=builds))
    (tools / "flyctl").chmod(0o755)
    (tools / "docker").write_text(FAKE_DOCKER.format(record=builds))
    (tools / "docker").chmod(0o755)
    # The operator's Postgres for preview databases (PREVIEWD_PREVIEW_DATABASE_URL, needed on Fly):
    # a cluster of this host stands in for one on the project's private network.
    operator_pg = PreviewCluster(root / "operator-pg")
    operator_url = operator_pg.start()
    with FakeFlyServer(fake) as server:
        env = {
            "PREVIEWD_PREVIEW_DATABASE_URL": operator_url,
            "PREVIEWD_PLATFORM": "fly",
            "FLY_API_TOKEN": TOKEN,
            "FLY_API_URL": server.url,
            "FLY_PREVIEW_URL_TEMPLATE": f"{server.url}{EDGE_PREFIX}/{{app}}/",
            "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        system, postgres, temporal = start_system(root, extra_env=env)
        try:
            yield FlySystem(system, fake, builds, operator_url)
        finally:
            system.stop()
            temporal.stop()
            postgres.stop()
            operator_pg.stop()


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
    assert fake.secrets[app]["PREVIEWD_SHA"] == shas[-1] and fake.secrets[app]["PREVIEWD_PR_TITLE"] == "PR #1"
    kinds = {("." in ip["ip"], ":" in ip["ip"]) for ip in fake.ips[app]}
    assert kinds == {(True, False), (False, True)}
    build_log = system.logs(first["id"])
    assert any("Building image with Fly's remote builder" in line for line in build_log)
    assert not any(TOKEN in line for line in build_log)

    system.pull_request(project, "closed", 1, shas[-1])
    system.wait_status(project["id"], 1, shas[-1], "destroyed")
    assert app not in fake.apps
    # The worker's /metrics: each sha went live and was replaced by the next, the last destroyed; the
    # image steps were timed; the Fly API calls were counted by status.
    worker = parse(system.metrics("worker").text)
    pid = project["id"]
    for outcome, count in (("active", 3), ("replaced", 2), ("destroyed", 1)):
        assert value(worker, "previewd_deployments_total", project=pid, outcome=outcome) == count, outcome
    assert value(worker, "previewd_step_seconds_count", project=pid, step="image") == 3
    assert value(worker, "previewd_api_calls_total", api="fly", status="200") > 0


def test_a_prs_database_url_is_a_secret_of_its_machine_never_its_config(
    fly: FlySystem, repo: AppRepo
) -> None:
    """Issue 16 on Fly: the PR's database on the operator's Postgres, its URL (the PR's own role,
    that Postgres's host) set as a Fly secret, in no machine's config; its seed command run once, in
    a one-off machine as a release command runs; dropped on close."""
    system, fake = fly.system, fly.fake
    seed = "python manage.py loaddata seed.json"
    project = fly.system.add_project(
        repo, start_command=None, build_command=None, port=8080, database_engine="postgres",
        database_seed=seed,
    )  # fmt: skip
    sha = repo.commit("with a database")
    system.pull_request(project, "opened", 16, sha)
    app = system.wait_status(project["id"], 16, sha, "active")["app_name"]
    # No release command: the seed runs alone, in a one-off machine with the app's secrets.
    [seeding] = fake.destroyed_machines[app].values()
    assert seeding["config"]["init"]["cmd"] == ["/bin/sh", "-c", seed]
    assert seeding["config"]["metadata"]["previewd_role"] == "release"
    pushed = repo.commit("a second push: the database is seeded already")
    system.pull_request(project, "synchronize", 16, pushed)
    system.wait_status(project["id"], 16, pushed, "active")
    assert len(fake.destroyed_machines[app]) == 1  # not seeded again
    sha = pushed
    name = f"previewd_pr_{uuid.UUID(project['id']).hex}_16"
    url = fake.secrets[app]["DATABASE_URL"]
    assert url.startswith(f"postgresql://{name}:") and f"/{name}?" in url
    password = url.split("@", 1)[0].rsplit(":", 1)[1]
    assert password and "postgres:" not in url  # the PR's role, never the operator's
    shown = json.dumps([machine["config"] for machine in fake.machines[app].values()])
    assert "DATABASE_URL" not in shown and password not in shown
    with psycopg.connect(url) as conn:  # the URL works, as the PR's role
        assert conn.execute("SELECT current_user").fetchone() == (name,)

    system.pull_request(project, "closed", 16, sha)
    system.wait_status(project["id"], 16, sha, "destroyed")

    def dropped() -> bool | None:
        with psycopg.connect(fly.operator_pg) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return True if found is None else None

    wait_for(dropped, timeout=30, what="the PR's database dropped")


def test_a_release_command_runs_in_a_one_off_machine_and_its_failure_keeps_the_live_sha(
    fly: FlySystem, repo: AppRepo
) -> None:
    system, fake = fly.system, fly.fake
    command = "python manage.py migrate && echo migrated"
    project = system.add_project(
        repo, start_command=None, build_command=None, port=8080, release_command=command
    )
    good = repo.commit("migrations that work")
    system.pull_request(project, "opened", 5, good)
    live = system.wait_status(project["id"], 5, good, "active")
    app = live["app_name"]
    # As flyctl runs a release_command: a machine of the new image, the command as its init, never
    # restarted, reachable by nothing, destroyed once it exited; and before the preview's machine.
    [release] = fake.destroyed_machines[app].values()
    config = release["config"]
    assert config["init"]["cmd"] == ["/bin/sh", "-c", command]
    assert config["restart"] == {"policy": "no"}
    assert [event["type"] for event in release["events"][:3]] == ["destroyed", "stopped", "exit"]
    assert "services" not in config and "checks" not in config
    assert config["image"].startswith(f"registry.fly.io/{app}:pr-5-{good[:12]}")
    assert config["metadata"]["previewd_role"] == "release"
    creates = fake.calls_to("POST", rf"^/v1/apps/{app}/machines$")
    assert [c.body["config"].get("metadata", {}).get("previewd_role") for c in creates] == ["release", None]
    [(machine_id, machine)] = fake.machines[app].items()
    assert machine["config"]["metadata"]["previewd_sha"] == good
    assert any(line.startswith("release command finished in machine") for line in system.logs(live["id"]))

    fake.exit_code_for = lambda cmd: 3
    try:
        bad = repo.commit("a migration that fails")
        system.pull_request(project, "synchronize", 5, bad)
        failed = system.wait_status(project["id"], 5, bad, "failed")
    finally:
        fake.exit_code_for = lambda cmd: 0
    assert "release command exited with code 3" in failed["error"]
    assert any("release command exited with code 3" in line for line in system.logs(failed["id"]))
    # The preview's machine was never touched: it still runs the good sha.
    assert list(fake.machines[app]) == [machine_id]
    assert fake.machines[app][machine_id]["config"]["metadata"]["previewd_sha"] == good
    assert fake.machine_meta[app][machine_id].versions == 1
    assert len(fake.destroyed_machines[app]) == 2


def hostile_tree(repo: AppRepo) -> Path:
    """A docker CLI plugin, a fly.toml naming someone else's app and a Fly config dir in the PR's
    tree; returns the file the plugin writes if it ever runs."""
    ran = repo.path.parent / f"plugin-ran-{uuid.uuid4().hex[:6]}"
    plugin = repo.path / ".docker" / "cli-plugins" / "docker-buildx"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(f"#!/bin/sh\nenv > {ran}\n")
    plugin.chmod(0o755)
    hostile_toml = 'app = "someone-elses-app"\n[build]\n  image = "registry.fly.io/x:1"\n'
    (repo.path / "fly.toml").write_text(hostile_toml)
    (repo.path / ".fly").mkdir()
    (repo.path / ".fly" / "config.yml").write_text("access_token: the-attackers-own\n")
    return ran


def test_a_hostile_pr_tree_steers_nothing_of_flyctls_build(fly: FlySystem, repo: AppRepo) -> None:
    """The builder never runs in, reads from, or keeps its config in the checkout."""
    ran = hostile_tree(repo)
    sha = repo.commit("a hostile tree")
    project = fly_project(fly, repo)
    fly.system.pull_request(project, "opened", 9, sha)
    live = fly.system.wait_status(project["id"], 9, sha, "active")

    record = fly.hostile_build("flyctl")
    checkout = Path(record["context"])
    for name in ("cwd", "home", "docker_config", "fly_config_dir", "config"):
        assert not Path(record[name]).is_relative_to(checkout), (name, record[name])
    assert record["config_app"] == f'app = "{live["app_name"]}"'
    assert not ran.exists(), "the PR's docker-buildx plugin ran on the worker"


def test_a_hostile_pr_tree_steers_nothing_of_docker_buildx(fly: FlySystem, repo: AppRepo) -> None:
    """FLY_BUILDER=docker: `docker buildx` would run the PR's own docker-buildx were HOME the checkout."""
    system = fly.system
    ran = hostile_tree(repo)
    sha = repo.commit("a hostile tree for docker")
    project = fly_project(fly, repo)
    system.children["worker"].stop()
    system.env["FLY_BUILDER"] = "docker"
    system.start_child("worker")
    try:
        system.pull_request(project, "opened", 10, sha)
        system.wait_status(project["id"], 10, sha, "active")
    finally:
        system.children["worker"].stop()
        del system.env["FLY_BUILDER"]
        system.start_child("worker")
    assert not ran.exists(), "the PR's docker-buildx plugin ran on the worker"
    record = fly.hostile_build("docker")
    checkout = Path(record["context"])
    for name in ("cwd", "home", "docker_config"):
        assert not Path(record[name]).is_relative_to(checkout), (name, record[name])


def test_each_projects_previews_share_a_private_network_of_their_own(fly: FlySystem, tmp_path: Path) -> None:
    system, fake = fly.system, fly.fake
    first, second = (AppRepo.create(tmp_path / f"net-{i}-{uuid.uuid4().hex[:6]}") for i in range(2))
    one, other = (fly_project(fly, r, image=PUBLIC_IMAGE) for r in (first, second))
    # PR 2 of the first project had an app from before networks per project, on the org's default.
    legacy = f"pr-2-{first.path.name}"
    api = httpx.Client(base_url=system.env["FLY_API_URL"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.post("/v1/apps", json={"name": legacy, "org_slug": "personal"}).status_code == 201
    assert fake.apps[legacy]["network"] == "default"
    live = {}
    for project, repo, number in ((one, first, 1), (one, first, 2), (other, second, 1)):
        sha = repo.commit(f"pr {number}")
        system.pull_request(project, "opened", number, sha)
        live[(project["id"], number)] = system.wait_status(project["id"], number, sha, "active")["app_name"]
    networks = {key: fake.apps[app]["network"] for key, app in live.items()}
    assert networks[(one["id"], 1)] == networks[(one["id"], 2)]
    assert networks[(one["id"], 1)] != networks[(other["id"], 1)]
    assert all(network.startswith("previewd-") for network in networks.values())
    assert live[(one["id"], 2)] == legacy  # made again on its project's network


def test_a_project_may_run_its_own_apps_images_but_never_another_projects(
    fly: FlySystem, tmp_path: Path
) -> None:
    system, fake = fly.system, fly.fake
    owner_repo, thief_repo = (AppRepo.create(tmp_path / f"img-{i}-{uuid.uuid4().hex[:6]}") for i in range(2))
    owner = fly_project(fly, owner_repo, image=PUBLIC_IMAGE)
    sha = owner_repo.commit("the owner's build")
    system.pull_request(owner, "opened", 1, sha)
    app = system.wait_status(owner["id"], 1, sha, "active")["app_name"]
    theirs = f"registry.fly.io/{app}:pr-1-{sha[:12]}"
    thief = fly_project(fly, thief_repo)

    def config(project: dict[str, Any], image: str) -> dict[str, Any]:
        return {"deployment_config": {**project["deployment_config"], "fly_config": {"image": image}}}

    with system.api() as api:
        new = {"github_repo_full_name": "tests/thief-2", **config(thief, theirs)}
        for refused in (
            api.post("/api/projects", json=new),
            api.patch(f"/api/projects/{thief['id']}", json=config(thief, theirs)),
            api.patch(f"/api/projects/{thief['id']}", json=config(thief, "REGISTRY.fly.io/" + theirs[16:])),
            api.patch(f"/api/projects/{thief['id']}", json=config(thief, "registry.fly.io/other-app:1")),
        ):
            assert refused.status_code == 422 and "fly_config.image" in refused.text, refused.text
        assert api.patch(f"/api/projects/{owner['id']}", json=config(owner, theirs)).status_code == 200
    dashboard = system.dashboard()
    try:
        page = dashboard.get(f"/projects/{thief['id']}/settings")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None, page.text[:500]
        form = values_of(thief["deployment_config"]) | {"fly_image": theirs, "csrf_token": csrf.group(1)}
        refused = dashboard.post(f"/projects/{thief['id']}/settings", data=form)
        assert refused.status_code == 422 and 'id="e-fly_image"' in refused.text
        assert "fly_config.image" in refused.text and "Settings saved." not in refused.text
    finally:
        dashboard.close()

    # A value stored before the rule: the deploy refuses it, before any app is made.
    with system.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE projects SET deployment_config = jsonb_set(deployment_config, '{fly_config}', "
                "CAST(:fly AS jsonb)) WHERE id = :id"
            ),
            {"fly": json.dumps({"image": theirs}), "id": thief["id"]},
        )
    sha = thief_repo.commit("the thief's build")
    system.pull_request(thief, "opened", 1, sha)
    failed = system.wait_status(thief["id"], 1, sha, "failed")
    assert "fly_config.image" in failed["error"] and app in failed["error"]
    assert failed["app_name"] not in fake.apps


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
    project = fly_project(fly, repo, image=PUBLIC_IMAGE)
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
        stuck = fly_project(fly, repo, image=PUBLIC_IMAGE)
        sha = repo.commit("no room")
        fly.system.pull_request(stuck, "opened", 3, sha)
        failed = fly.system.wait_status(stuck["id"], 3, sha, "failed", timeout=120)
        assert "no Fly capacity in iad" in failed["error"] and "fallback regions" in failed["error"]

        other = AppRepo.create(tmp_path / f"fallback-{uuid.uuid4().hex[:6]}")
        saved = fly_project(fly, other, image=PUBLIC_IMAGE, region="iad", fallback_regions=["ams"])
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
    project = fly_project(fly, repo, image=PUBLIC_IMAGE)
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
    project = fly_project(fly, repo, image=PUBLIC_IMAGE)
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
