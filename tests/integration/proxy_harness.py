"""Previews for the proxy's tests: real processes (tests/integration/proxy_upstream) given routes in
the real route table, reached through the real `previewd web`'s proxy port."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.integration.system import AppRepo, System, free_port, wait_for

# No worker serves this queue, so nothing but the test ever touches these routes.
HOST_QUEUE = "proxy-tests-no-worker"


@dataclass
class Upstream:
    app_name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def direct(self) -> str:
        """The preview itself, not through the proxy: for the test's own questions and commands."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_upstream(system: System, app_name: str, log_dir: Path) -> Upstream:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{app_name}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.proxy_upstream.app", app_name, str(port)],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": system.env["PYTHONPATH"]},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    upstream = Upstream(app_name, port, process)
    wait_for(lambda: _answers(upstream), timeout=30, what=f"{app_name} to listen")
    return upstream


def _answers(upstream: Upstream) -> bool:
    if upstream.process.poll() is not None:
        raise AssertionError(f"{upstream.app_name} exited with {upstream.process.returncode}")
    try:
        return httpx.get(f"{upstream.direct}/headers", timeout=1).is_success
    except httpx.HTTPError:
        return False


def route_to(system: System, repo: AppRepo, app_name: str, port: int) -> None:
    """A deployment row and a route to 127.0.0.1:port, as the local platform would leave them."""
    project = system.add_project(repo)
    deployment_id = uuid.uuid4()
    now = datetime.now(UTC)
    with system.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO deployments (id, project_id, pr_number, pr_title, pr_author, commit_sha,"
            " app_name, workflow_id, status, created_at, updated_at)"
            " VALUES (%s, %s, 1, '', '', %s, %s, %s, 'active', %s, %s)",
            (deployment_id, uuid.UUID(project["id"]), "0" * 40, app_name, "proxy-test", now, now),
        )
        connection.exec_driver_sql(
            "INSERT INTO preview_routes (app_name, deployment_id, upstream, host_queue, updated_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (app_name, deployment_id, f"127.0.0.1:{port}", HOST_QUEUE, now),
        )
