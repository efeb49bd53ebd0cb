"""A real worker, frozen with SIGSTOP: its supervisor's health hook (stalled_reason), the compose
health check (`previewd worker-health`), /readyz and the dashboard's banner all say so, and stop
saying so once it runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from runtime.children import spawn_previewd
from runtime.worker_heartbeat import heartbeat_path, stalled_reason
from tests.integration.system import AppRepo, System, system_of_its_own, wait_for
from worker import POLLER_LOST_EXIT_CODE

WORKER_NAME = "itest"  # PREVIEWD_WORKER_NAME in tests/integration/system.py


@pytest.fixture(scope="module")
def liveness_system() -> Iterator[System]:
    """A system of its own: freezing its worker would stall the other tests' previews."""
    with system_of_its_own("live-") as running:
        try:
            yield running
        finally:
            worker = running.children["worker"].process
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGCONT)


def data_dir(system: System) -> Path:
    return Path(system.env["PREVIEWD_DATA_DIR"])


def readyz(system: System) -> httpx.Response:
    return httpx.get(f"{system.base_url}/readyz", timeout=15)


def worker_health(system: System) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", "worker-health"]
    return subprocess.run(command, env=system.env, capture_output=True, text=True, timeout=30)


def page(client: httpx.Client) -> str:
    return client.get("/").text


def not_ready(system: System) -> httpx.Response | None:
    response = readyz(system)
    return response if response.status_code == 503 else None


def banner_page(client: httpx.Client) -> str | None:
    text = page(client)
    return text if "pieces-down" in text else None


def test_a_working_worker_reports_its_progress(liveness_system: System, tmp_path: Path) -> None:
    system = liveness_system
    worker_pid = system.children["worker"].process.pid
    repo = AppRepo.create(tmp_path / "app-live")
    project = system.add_project(repo)
    sha = repo.commit("live")
    system.pull_request(project, "opened", 1, sha)
    system.wait_status(project["id"], 1, sha, "active")
    path = heartbeat_path(data_dir(system), WORKER_NAME)

    def counted() -> dict[str, int] | None:
        beat: dict[str, int] = json.loads(path.read_text())
        return beat if beat["tasks_completed"] >= 5 else None

    # Workflow activations and activities (clone, build, deploy, store...) are counted.
    beat = wait_for(counted, timeout=15, what="the heartbeat file to count completed tasks")
    assert beat["pid"] == worker_pid and beat["loop_lag_ms"] < 1000
    assert stalled_reason(data_dir(system), WORKER_NAME, pid=worker_pid) is None
    health = worker_health(system)
    assert health.returncode == 0 and f"worker {WORKER_NAME} is healthy" in health.stdout
    assert wait_for(lambda: readyz(system).status_code == 200, timeout=30, what="/readyz 200")
    # The row is written from the event loop on a cadence of its own: it catches up with the file.
    rows = wait_for(
        lambda: (r := system.rows("SELECT * FROM worker_heartbeats")) and r[0]["tasks_completed"] >= 5 and r,
        timeout=15,
        what="the heartbeat row to count completed tasks",
    )
    assert [(r["host_queue"].split("-host-")[1], r["pid"]) for r in rows] == [(WORKER_NAME, worker_pid)]


def test_a_frozen_worker_is_reported_everywhere_until_it_runs_again(liveness_system: System) -> None:
    system = liveness_system
    worker_pid = system.children["worker"].process.pid
    dashboard = system.dashboard()
    try:
        assert "pieces-down" not in page(dashboard)
        os.kill(worker_pid, signal.SIGSTOP)
        try:
            # Within ~30 s the heartbeat is stale: every reader names the worker.
            reason = wait_for(
                lambda: stalled_reason(data_dir(system), WORKER_NAME, pid=worker_pid), timeout=60,
                what="stalled_reason to report the frozen worker",
            )  # fmt: skip
            assert f"worker pid {worker_pid}" in reason and "stopped or frozen" in reason
            health = worker_health(system)
            assert health.returncode == 1 and "stopped or frozen" in health.stderr
            down = wait_for(partial(not_ready, system), timeout=30, what="/readyz 503")
            body = down.json()
            assert body["down"] == ["worker"] and body["postgres"] == body["temporal"] == "ok"
            assert body["worker"].startswith("down: no worker heartbeat for ")
            banner = wait_for(partial(banner_page, dashboard), timeout=20, what="the banner")
            assert "worker is down: no worker heartbeat for" in banner
        finally:
            os.kill(worker_pid, signal.SIGCONT)
        # Running again: healthy within a heartbeat or two, and the banner goes away.
        wait_for(lambda: readyz(system).status_code == 200, timeout=30, what="/readyz 200 again")
        assert stalled_reason(data_dir(system), WORKER_NAME, pid=worker_pid) is None
        wait_for(lambda: "pieces-down" not in page(dashboard), timeout=20, what="the banner to go")
        assert system.children["worker"].alive()
    finally:
        dashboard.close()


def test_a_worker_temporal_will_not_serve_leaves_instead_of_idling(liveness_system: System) -> None:
    """A worker whose namespace does not exist used to leave a process that looked alive and polled
    nothing, and said nothing. Now it says why in one line and exits for its supervisor, before it
    started any preview. (A Temporal worker that stops later: tests/unit/test_worker_lost.py.)"""
    system = liveness_system
    env = system.env | {"TEMPORAL_NAMESPACE": "no-such-namespace", "PREVIEWD_WORKER_NAME": "lost"}
    lost = spawn_previewd("lost-worker", ["worker"], env=env, log_dir=system.root / "logs")
    try:
        code = lost.process.wait(timeout=90)
    finally:
        lost.stop()
    log = lost.log_file.read_text()
    assert code == POLLER_LOST_EXIT_CODE, log[-3000:]
    assert "Temporal refused the worker's schedules (namespace no-such-namespace" in log
    assert "Traceback" not in log
    # Only the process whose worker failed left: the system's own worker still runs.
    assert system.children["worker"].alive()
