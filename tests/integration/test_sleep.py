"""Idle previews sleep and wake (issue 14): through signed webhooks and the real proxy, with
PREVIEWD_IDLE_UNIT_SECONDS=1, so a project's `idle_minutes = 3` sleeps a preview after 3 idle seconds
along the production code path."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from tests.integration.system import AppRepo, System, system_of_its_own, wait_for
from workflows.preview import PreviewWorkflow
from workflows.signals import PreviewState, workflow_id_for
from workflows.vocabulary import Phase

IDLE = 3  # "minutes", each one second here


@pytest.fixture(scope="module")
def sleepy() -> Iterator[System]:
    # A worker that keeps two workflow runs in memory: the PRs here outnumber it, so runs are evicted
    # and replayed from their histories when their timers and signals fire (what happens to most of
    # the runs of a box with hundreds of sleeping PRs).
    env = {"PREVIEWD_IDLE_UNIT_SECONDS": "1", "PREVIEWD_MAX_CACHED_WORKFLOWS": "2"}
    with system_of_its_own("sleep-", extra_env=env) as running:
        yield running


def state(system: System, project_id: str, number: int) -> PreviewState:
    async def query() -> PreviewState:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        handle: WorkflowHandle[PreviewWorkflow, PreviewState] = client.get_workflow_handle_for(
            PreviewWorkflow.run, workflow_id_for(project_id, number)
        )
        return await handle.query(PreviewWorkflow.get_state)

    return asyncio.run(query())


def listening(upstream: str) -> bool:
    host, port = upstream.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) == 0


def request(system: System, app_name: str, *, html: bool = False, timeout: float = 90) -> httpx.Response:
    headers = {"Host": f"{app_name}.localhost:{system.preview_port}"}
    headers["Accept"] = "text/html,application/xhtml+xml" if html else "*/*"
    return httpx.get(f"http://127.0.0.1:{system.preview_port}/", headers=headers, timeout=timeout)


def open_in(pid: int, directory: Path) -> list[str]:
    """What process `pid` holds open under `directory`."""
    held = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith(f"{directory}/"):
            held.append(target)
    return held


def previews_metric(system: System, project_id: str, state: str) -> bool:
    """The web app's /metrics counts one preview of the project in `state` (running, sleeping)."""
    wanted = f'previewd_previews{{project="{project_id}",state="{state}"}} 1.0'
    return wanted in system.metrics("web").text


def wait_asleep(system: System, project_id: str, number: int, app_name: str) -> dict[str, Any]:
    def asleep() -> dict[str, Any] | None:
        route = system.route(app_name)
        return route if route is not None and route["asleep"] else None

    route = wait_for(asleep, timeout=60, what=f"{app_name} to sleep")
    wait_for(lambda: state(system, project_id, number).phase == Phase.SLEEPING, what="phase sleeping")
    return route


def test_an_idle_preview_sleeps_and_the_next_request_wakes_it(sleepy: System, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / "sleeper")
    project = sleepy.add_project(repo, idle_minutes=IDLE)
    sha = repo.commit("sleepy version")
    sleepy.pull_request(project, "opened", 1, sha, title="<script>alert(1)</script> wake me")
    live = sleepy.wait_status(project["id"], 1, sha, "active")
    app = live["app_name"]
    awake_route = sleepy.route(app)
    assert awake_route is not None and listening(awake_route["upstream"])
    assert sha in request(sleepy, app).text

    # Idle for IDLE seconds: the process and its sandbox are gone; files, route and deployment stay.
    went_quiet = time.monotonic()
    asleep = wait_asleep(sleepy, project["id"], 1, app)
    slept_after = time.monotonic() - went_quiet
    assert IDLE - 1 <= slept_after < IDLE + 20, slept_after
    assert asleep["pid"] is None and not listening(awake_route["upstream"])
    work_dir = sleepy.root / "data" / "work" / str(live["id"])
    assert (work_dir / "src").is_dir()
    # ...and the worker holds nothing of it open: its output's pipe, thread and log file went with it
    # (kept, hundreds of sleeping previews ran the worker out of select()'s 1,024 descriptors).
    assert open_in(sleepy.children["worker"].process.pid, work_dir) == []
    assert sleepy.deployments(project["id"], 1)[-1]["status"] == "active"  # not a new deployment
    # Asleep costs nothing: its running time stopped (models/running_time.py), and /metrics says so.
    slept = sleepy.deployments(project["id"], 1)[-1]
    assert slept["running_since"] is None and slept["running_seconds"] >= IDLE - 1, slept
    wait_for(partial(previews_metric, sleepy, project["id"], "sleeping"), what="/metrics: 1 sleeping")
    with sleepy.api() as api:
        pulls = api.get(f"/api/projects/{project['id']}/pulls").json()
    assert [p["workflow"]["phase"] for p in pulls if p["pr_number"] == 1] == ["sleeping"]
    assert [p["latest_deployment"]["asleep"] for p in pulls if p["pr_number"] == 1] == [True]
    with sleepy.api() as api:
        asleep_answer = api.get(f"/api/deployments/{live['id']}").json()
    assert (asleep_answer["status"], asleep_answer["asleep"]) == ("active", True)
    dashboard = sleepy.dashboard()
    try:
        card = dashboard.get(f"/projects/{project['id']}/pulls").text
    finally:
        dashboard.close()
    assert 'data-phase="sleeping"' in card and "the next visit wakes it" in card

    # A curl-like request is held until the preview is awake, then answered by the same sha.
    started = time.monotonic()
    answer = request(sleepy, app)
    held = time.monotonic() - started
    assert answer.status_code == 200 and sha in answer.text, answer.text
    awake = sleepy.route(app)
    assert awake is not None and not awake["asleep"] and listening(awake["upstream"])
    assert state(sleepy, project["id"], 1).phase == Phase.ACTIVE
    woken = sleepy.deployments(project["id"], 1)[-1]
    assert woken["running_since"] is not None and woken["running_seconds"] == slept["running_seconds"]
    with sleepy.api() as api:
        assert api.get(f"/api/deployments/{live['id']}").json()["asleep"] is False
    print(f"wake: held {held:.2f} s until the first answer")

    # Asleep again: a browser gets the waking page at once (no PR text), which refreshes until awake.
    wait_asleep(sleepy, project["id"], 1, app)
    page = request(sleepy, app, html=True, timeout=5)
    assert page.status_code == 503
    assert "Waking up" in page.text and '<meta http-equiv="refresh"' in page.text
    assert "<script" not in page.text and "wake me" not in page.text
    assert page.headers["cache-control"] == "no-store"

    def served_page() -> httpx.Response | None:
        reply = request(sleepy, app, html=True, timeout=5)
        return reply if reply.status_code == 200 else None

    served = wait_for(served_page, timeout=60, what="the waking page to give way to the preview")
    assert sha in served.text
    # Several wakes of one sleep were asked at once (every refresh): the preview started once.
    assert sum("asleep until its next request" in line for line in sleepy.logs(live["id"])) == 2


def test_a_worker_restart_leaves_a_sleeping_preview_asleep(sleepy: System, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / "restart")
    project = sleepy.add_project(repo, idle_minutes=IDLE)
    sha = repo.commit("restart version")
    sleepy.pull_request(project, "opened", 2, sha)
    app = sleepy.wait_status(project["id"], 2, sha, "active")["app_name"]
    before = wait_asleep(sleepy, project["id"], 2, app)

    sleepy.children["worker"].stop()
    sleepy.start_child("worker")
    wait_for(lambda: "worker polling" in sleepy.children["worker"].log_file.read_text(), what="worker up")
    time.sleep(2)  # what a restart brings back comes back within this
    route = sleepy.route(app)
    assert route is not None and route["asleep"] and route["pid"] is None
    assert not listening(before["upstream"])

    answer = request(sleepy, app)
    assert answer.status_code == 200 and sha in answer.text


def test_a_push_to_a_sleeping_pr_goes_live_awake(sleepy: System, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / "push")
    project = sleepy.add_project(repo, idle_minutes=IDLE)
    first = repo.commit("first")
    sleepy.pull_request(project, "opened", 3, first)
    app = sleepy.wait_status(project["id"], 3, first, "active")["app_name"]
    wait_asleep(sleepy, project["id"], 3, app)
    second = repo.commit("second")
    sleepy.pull_request(project, "synchronize", 3, second)
    sleepy.wait_status(project["id"], 3, second, "active")
    route = sleepy.route(app)
    assert route is not None and not route["asleep"] and listening(route["upstream"])
    assert second in request(sleepy, app, timeout=5).text
    assert sleepy.wait_status(project["id"], 3, first, "replaced")


def test_beyond_max_live_previews_the_least_recently_used_sleep(sleepy: System, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / "many")
    # Never idle: only the limit puts previews to sleep here.
    project = sleepy.add_project(repo, idle_minutes=0, max_live_previews=10)
    sha = repo.commit("many")
    for number in range(1, 11):
        sleepy.pull_request(project, "opened", number, sha)
    apps = {
        n: sleepy.wait_status(project["id"], n, sha, "active", timeout=240)["app_name"] for n in range(1, 11)
    }
    # Every preview but #4 and #7 is visited: those two are the least recently used.
    for number, app in apps.items():
        if number not in (4, 7):
            assert request(sleepy, app, timeout=10).status_code == 200
    wait_for(
        lambda: all(
            (r := sleepy.route(app)) is not None and r["last_request_at"] is not None
            for n, app in apps.items()
            if n not in (4, 7)
        ),
        timeout=30,
        what="the visits to be recorded",
    )
    for number in (11, 12):
        sleepy.pull_request(project, "opened", number, sha)
    for number in (11, 12):
        apps[number] = sleepy.wait_status(project["id"], number, sha, "active", timeout=120)["app_name"]

    def asleep() -> set[int]:
        return {n for n, app in apps.items() if (r := sleepy.route(app)) is not None and r["asleep"]}

    wait_for(lambda: asleep() == {4, 7}, timeout=60, what="#4 and #7 asleep")
    time.sleep(2)  # and nothing more is put to sleep
    assert asleep() == {4, 7}

    def phases() -> bool:
        return all(state(sleepy, project["id"], n).phase == Phase.SLEEPING for n in (4, 7))

    wait_for(phases, timeout=30, what="#4 and #7 in phase sleeping")
    # Never destroyed: a visit wakes #4 (and the least recently used other then sleeps).
    assert sha in request(sleepy, apps[4]).text
