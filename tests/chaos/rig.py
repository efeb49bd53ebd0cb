"""The system the chaos suite shakes: a real `previewd up` (its own data dir and free ports, the local
platform, sandboxed where the host can) configured as a GitHub App against the loopback GitHub fake,
which serves the repository the project clones, takes the sticky comments, deployments and statuses
as real HTTP calls, and sends the App's webhooks to the web app (its delivery log records refusals
as GitHub's does). And what the suite needs to act as GitHub and to look inside."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg.rows import dict_row
from temporalio.client import Client

from runtime.embedded_postgres import PASSWORD_FILE
from runtime.postgres_auth import SUPERUSER
from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from tests.fakes.github_hooks import HookAttempt
from tests.integration.system import AppRepo, git
from tests.integration.up_process import Ports, Up, start_up

APP_ID = 5151
INSTALLATION = 88
REPO = "chaos/app"
WEBHOOK_SECRET = "chaos-suite-webhook-secret"
# Long enough that a kill lands in it on two loaded cores; the example app's own build is instant.
BUILD_COMMAND = "sleep 2 && python3 build.py"
STARTUP_SECONDS = 300

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Rig:
    work: Path
    fake: FakeGitHub
    server: FakeGitHubServer
    source: AppRepo
    env: dict[str, str]
    up: Up
    token: str = ""
    project_id: str = ""
    # The source repository has one working copy: one commit and push at a time.
    git_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- previewd up ------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.up.data_dir

    @property
    def ports(self) -> Ports:
        return self.up.ports

    def start_up_again(self) -> None:
        """A new `previewd up` on the same data dir and ports, once the old one is gone."""
        offset = len(self.up.output())
        self.up = start_up(self.data_dir, demo=False, extra_env=self.env, ports=self.ports)
        said = self.up.wait_for_output("previewd is up", STARTUP_SECONDS, after=offset)
        assert said, self.up.output()[offset:]

    def ready(self) -> bool:
        """/readyz says every piece is up (Postgres, Temporal, a worker)."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.ports.web}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.ports.web}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    # -- Postgres and Temporal, as the harness reads them ----------------------------------

    def database_url(self) -> str:
        """The embedded server's URL, from its pid file (socket directory) and the password file."""
        lines = (self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
        password = (self.data_dir / PASSWORD_FILE).read_text().strip()
        return f"postgresql://{SUPERUSER}:{quote(password, safe='')}@/{SUPERUSER}?host={quote(lines[4])}"

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url(), row_factory=dict_row, connect_timeout=5) as connection:
            return list(connection.execute(sql, params or {}).fetchall())

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])

    def temporal(self, work: Callable[[Client], Any]) -> Any:
        """Run `work(client)` (a coroutine function) against up's Temporal."""

        async def run() -> Any:
            client = await Client.connect(f"127.0.0.1:{self.ports.temporal}")
            return await work(client)

        return asyncio.run(run())

    # -- acting as GitHub -------------------------------------------------------------------

    def push(self, number: int, message: str) -> str:
        """A new commit on PR `number`'s branch in the repository GitHub serves."""
        with self.git_lock:
            sha = self.source.commit(message)
            bare = str(self.fake.repos[REPO])
            git(self.source.path, "push", "--quiet", "--force", bare, f"HEAD:refs/heads/pr-{number}")
        return sha

    def set_pull(self, number: int, sha: str, state: str = "open") -> None:
        self.fake.set_pull(REPO, number, head_sha=sha, head_ref=f"pr-{number}", state=state)

    def send(self, number: int, action: str) -> HookAttempt | None:
        """GitHub sends the `pull_request` event of PR `number` as the fake holds it now; None while
        the App's webhook is switched off."""
        return self.fake.send_pull_request_event(REPO, number, action, installation=INSTALLATION)

    def open_pr(self, number: int) -> tuple[str, HookAttempt | None]:
        sha = self.push(number, f"PR {number} opened")
        self.set_pull(number, sha)
        return sha, self.send(number, "opened")

    def push_pr(self, number: int, message: str) -> tuple[str, HookAttempt | None]:
        sha = self.push(number, message)
        self.set_pull(number, sha)
        return sha, self.send(number, "synchronize")

    def close_pr(self, number: int) -> HookAttempt | None:
        pull = self.fake.pulls[(REPO, number)]
        self.set_pull(number, pull["head"]["sha"], state="closed")
        return self.send(number, "closed")

    def open_pulls(self) -> dict[int, str]:
        """PR number → head sha of every open PR, as GitHub has them."""
        return {n: p["head"]["sha"] for (r, n), p in list(self.fake.pulls.items()) if p["state"] == "open"}

    def all_pulls(self) -> dict[int, dict[str, Any]]:
        return {n: p for (r, n), p in list(self.fake.pulls.items()) if r == REPO}

    # -- previewd's view of a PR ------------------------------------------------------------

    def deployments(self, number: int | None = None) -> list[dict[str, Any]]:
        where = "project_id = %(p)s" + ("" if number is None else " AND pr_number = %(n)s")
        return self.rows(
            f"SELECT id, pr_number, commit_sha, status, error, created_at FROM deployments WHERE {where}"
            " ORDER BY created_at, id",
            {"p": self.project_id, "n": number},
        )

    def status_of(self, number: int, sha: str) -> str | None:
        """The status of PR `number`'s newest deployment of `sha`; None also while Postgres is away."""
        try:
            rows = self.deployments(number)
        except (psycopg.OperationalError, OSError, IndexError):
            return None
        found = [d["status"] for d in rows if d["commit_sha"] == sha]
        return found[-1] if found else None


def start_rig(*, fail_rate: float = 0.0, seed: int = 12) -> Rig:
    # A short path: Postgres's socket path must stay under ~100 characters.
    work = Path(tempfile.mkdtemp(prefix="pvd-chaos-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = create_fake_github(app_id=APP_ID, public_key_pem=public, seed=seed, fail_rate=fail_rate)
    source = AppRepo.create(work / "app")
    bare = work / "app.git"
    git(work, "clone", "--quiet", "--bare", str(source.path), str(bare))
    fake.add_repo(REPO, bare)
    fake.add_installation(INSTALLATION, repos=[REPO])
    server = FakeGitHubServer(fake)
    server.start()
    env = {
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": private.decode(),
        "GITHUB_API_URL": server.url,
        "GITHUB_URL": server.url,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # The reconciles' schedules exist (the worker makes them) but fire once a day: the suite
        # triggers them when it wants them, so what they find does not depend on the clock.
        "PREVIEWD_REDELIVERY_INTERVAL_MINUTES": "1440",
        "PREVIEWD_DRIFT_INTERVAL_MINUTES": "1440",
    }
    up = start_up(work / "data", demo=False, extra_env=env)
    rig = Rig(work, fake, server, source, env, up)
    try:
        assert up.wait_for_output("previewd is up", STARTUP_SECONDS), up.output()
        found = re.search(r"^API token\s+(\S+)", up.output(), re.MULTILINE)
        assert found, up.output()
        rig.token = found.group(1)
        fake.hooks.url = f"http://127.0.0.1:{rig.ports.web}/webhooks/github"
        fake.hooks.secret = WEBHOOK_SECRET
        rig.project_id = _add_project(rig)
        wait_for(rig.ready, timeout=120, what="/readyz")
    except BaseException:
        stop_rig(rig)
        raise
    return rig


def _add_project(rig: Rig) -> str:
    with rig.api() as client:
        created = client.post(
            "/api/projects",
            json={
                "github_repo_full_name": REPO,
                "github_repo_id": rig.fake.repo_ids[REPO],
                "github_installation_id": INSTALLATION,
                "deployment_config": {"build_command": BUILD_COMMAND, "start_command": "python3 server.py"},
            },
        )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def stop_rig(rig: Rig, keep_logs: Path | None = None) -> None:
    """Stop everything and remove the work dir; its logs (every piece's, and up's output) are copied
    to `keep_logs` first when given."""
    rig.up.stop()
    rig.server.stop()
    if keep_logs is not None:
        shutil.copytree(rig.data_dir / "logs", keep_logs, dirs_exist_ok=True)
        shutil.copy(rig.up.output_file, keep_logs / "up.out")
    shutil.rmtree(rig.work, ignore_errors=True)
    rig.up.output_file.unlink(missing_ok=True)
