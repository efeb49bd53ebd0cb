"""The whole previewd system for integration tests: embedded Postgres, Temporal dev server, and the
real `previewd worker` and `previewd web` processes, driven through signed webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, text
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.webhook_client import pull_request_payload, send_webhook
from models.db import make_sync_engine
from runtime.children import Child, spawn_previewd
from runtime.embedded_postgres import EmbeddedPostgres
from runtime.embedded_temporal import start_dev_server
from runtime.migrate import migrate
from workflows.signals import workflow_id_for

T = TypeVar("T")
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "hello"
WEBHOOK_SECRET = "integration-test-webhook-secret"
METRICS_TOKEN = "integration-test-metrics-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], T | None], *, timeout: float = 60, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@dataclass
class AppRepo:
    """A local git repository holding the example app; each commit is a new PR head."""

    path: Path

    @classmethod
    def create(cls, path: Path, app: Path = EXAMPLE_APP) -> AppRepo:
        """A repository holding `app` (by default the example app) as its first commit."""
        shutil.copytree(app, path, ignore=shutil.ignore_patterns("build", "__pycache__"))
        git(path, "init", "--quiet", "--initial-branch=main")
        git(path, "add", "-A")
        git(path, "commit", "--quiet", "-m", "initial")
        return cls(path)

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for name, content in (files or {"message.txt": message}).items():
            (self.path / name).write_text(content)
        git(self.path, "add", "-A")
        git(self.path, "commit", "--quiet", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")


@dataclass
class System:
    root: Path
    database_url: str
    env: dict[str, str]
    web_port: int
    preview_port: int
    token: str = ""
    children: dict[str, Child] = field(default_factory=dict)
    _engine: Engine | None = None

    # -- processes ----------------------------------------------------------------------------

    def start_child(self, name: str) -> None:
        self.children[name] = spawn_previewd(name, [name], env=self.env, log_dir=self.root / "logs")

    def kill_worker(self) -> None:
        worker = self.children["worker"]
        os.kill(worker.process.pid, 9)
        worker.process.wait()

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        if self._engine is not None:
            self._engine.dispose()

    # -- http ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def metrics(self, process: str, token: str | None = METRICS_TOKEN) -> httpx.Response:
        """GET /metrics of the "web" app or the "worker", with the bearer token unless told otherwise."""
        port = self.env["PREVIEWD_METRICS_PORT" if process == "web" else "PREVIEWD_WORKER_METRICS_PORT"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=30)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def webhook(self, event: str, payload: dict[str, Any], delivery_id: str | None = None) -> httpx.Response:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            return send_webhook(
                client, secret=WEBHOOK_SECRET, event=event, payload=payload, delivery_id=delivery_id
            )

    def pull_request(
        self, project: dict[str, Any], action: str, number: int, sha: str, **extra: Any
    ) -> httpx.Response:
        payload = pull_request_payload(
            action=action, number=number, sha=sha, repo_id=project["github_repo_id"],
            repo_full_name=project["github_repo_full_name"], **extra,
        )  # fmt: skip
        response = self.webhook("pull_request", payload)
        assert response.status_code == 202, response.text
        return response

    def dashboard(self) -> httpx.Client:
        """A dashboard session, signed in through a one-time link as a person would (local mode).
        Already open: close it when done (it cannot be used in a `with` block)."""
        command = [sys.executable, "-m", "cli", "login-link"]
        link = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True).stdout
        link = link.strip().splitlines()[-1]
        client = httpx.Client(base_url=self.base_url, timeout=30, follow_redirects=True)
        page = client.get(link.replace(self.env["PREVIEWD_BASE_URL"], ""))
        fields = dict(re.findall(r'name="(csrf_token|token)" value="([^"]*)"', page.text))
        signed_in = client.post("/auth/link", data=fields)
        assert signed_in.status_code == 200 and "Sign in to previewd" not in signed_in.text, signed_in.text
        return client

    def workflow_status(self, project_id: str, pr_number: int) -> str | None:
        """The PR workflow's status name (RUNNING, COMPLETED…), or None when there is none."""

        async def describe() -> str | None:
            client = await Client.connect(self.env["TEMPORAL_ADDRESS"])
            handle = client.get_workflow_handle(workflow_id_for(project_id, pr_number))
            try:
                described = await handle.describe()
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise
            return described.status.name if described.status else None

        return asyncio.run(describe())

    def preview(self, app_name: str) -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.preview_port}/",
            headers={"Host": f"{app_name}.localhost:{self.preview_port}"},
            timeout=10,
        )

    def add_project(self, repo: AppRepo, **config: Any) -> dict[str, Any]:
        body = {
            "github_repo_full_name": f"tests/{repo.path.name}",
            "deployment_config": {
                "build_command": "python3 build.py",
                "start_command": "python3 server.py",
                "clone_url": str(repo.path),
                **config,
            },
        }
        with self.api() as client:
            response = client.post("/api/projects", json=body)
        assert response.status_code == 201, response.text
        project: dict[str, Any] = response.json()
        return project

    # -- database -----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_sync_engine(self.database_url)
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql), params)]

    def deployments(self, project_id: str, pr_number: int) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM deployments WHERE project_id = :p AND pr_number = :n ORDER BY created_at",
            p=project_id, n=pr_number,
        )  # fmt: skip

    def wait_status(
        self, project_id: str, pr_number: int, sha: str, status: str, timeout: float = 90
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for row in self.deployments(project_id, pr_number):
                if row["commit_sha"] == sha and row["status"] == status:
                    return row
                if row["commit_sha"] == sha and row["status"] == "failed" and status != "failed":
                    raise AssertionError(f"deployment failed: {row['error']}")
            return None

        return wait_for(check, timeout=timeout, what=f"{sha[:8]} to be {status}")

    def logs(self, deployment_id: Any) -> list[str]:
        return [
            r["message"]
            for r in self.rows(
                "SELECT message FROM deployment_logs WHERE deployment_id = :d ORDER BY id", d=deployment_id
            )
        ]

    def route(self, app_name: str) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM preview_routes WHERE app_name = :a", a=app_name)
        return found[0] if found else None


def start_temporal(root: Path, port: int, *, persistent: bool) -> Child:
    log_file = root / "logs" / "temporal.log"
    db_file = root / "temporal.db" if persistent else None
    process = start_dev_server(db_file=db_file, port=port, ui_port=None, log_file=log_file, sync="off")
    return Child("temporal", process, log_file)


def start_system(
    root: Path, *, persistent_temporal: bool = False, extra_env: dict[str, str] | None = None
) -> tuple[System, EmbeddedPostgres, Child]:
    postgres = EmbeddedPostgres(root)
    url = postgres.start()
    temporal_port = free_port()
    temporal = start_temporal(root, temporal_port, persistent=persistent_temporal)
    migrate(url)
    system = System(root=root, database_url=url, env={}, web_port=free_port(), preview_port=free_port())
    system.env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREVIEWD_", "GITHUB_", "TEMPORAL_", "DATABASE_"))
        },
        "DATABASE_URL": url,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "TEMPORAL_TASK_QUEUE": f"previewd-test-{uuid.uuid4().hex[:8]}",
        "PREVIEWD_DATA_DIR": str(root / "data"),
        "PREVIEWD_WEB_PORT": str(system.web_port),
        "PREVIEWD_PREVIEW_PORT": str(system.preview_port),
        "PREVIEWD_BASE_URL": system.base_url,
        "PREVIEWD_WORKER_NAME": "itest",
        # Ports of their own: several systems run in one session (tests/integration/test_metrics.py).
        "PREVIEWD_METRICS_PORT": str(free_port()),
        "PREVIEWD_WORKER_METRICS_PORT": str(free_port()),
        "PREVIEWD_METRICS_TOKEN": METRICS_TOKEN,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Notifications to receivers the tests start on loopback, and emails to an SMTP server a test
        # starts on this port (tests/integration/test_notifications.py).
        "PREVIEWD_NOTIFICATIONS_ALLOW_PRIVATE": "true",
        "PREVIEWD_SMTP_HOST": "127.0.0.1",
        "PREVIEWD_SMTP_PORT": str(free_port()),
        "PREVIEWD_SMTP_STARTTLS": "false",
        # A failed "send a test" answers after this long (tests/integration/test_notification_attacks.py).
        "PREVIEWD_NOTIFICATIONS_SEND_SECONDS": "3",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        **(extra_env or {}),
    }
    system.token = subprocess.run(
        [sys.executable, "-m", "cli", "token", "create", "--name", "tests"],
        env=system.env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    system.start_child("worker")
    system.start_child("web")
    wait_for(lambda: _healthy(system), timeout=60, what="web /healthz")
    return system, postgres, temporal


@contextlib.contextmanager
def system_of_its_own(prefix: str, extra_env: dict[str, str] | None = None) -> Iterator[System]:
    """A whole system (Postgres, Temporal, worker, web) for a module's tests, stopped after them. Its
    root is short: Postgres's socket path must stay under ~100 characters."""
    root = Path(tempfile.mkdtemp(prefix=f"pvd-{prefix}"))
    running, postgres, temporal = start_system(root, extra_env=extra_env)
    try:
        yield running
    finally:
        running.stop()
        temporal.stop()
        postgres.stop()


def _healthy(system: System) -> bool:
    return web_healthy(system.base_url, list(system.children.values()))


def web_healthy(base_url: str, children: list[Child]) -> bool:
    """/healthz answers; a child that died fails at once with the end of its log."""
    for child in children:
        if not child.alive():
            raise AssertionError(f"{child.name} died: {child.log_file.read_text()[-3000:]}")
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).is_success
    except httpx.HTTPError:
        return False
