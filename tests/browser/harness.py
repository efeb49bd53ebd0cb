"""The system the browser tests drive: real Postgres, Temporal, worker and web app, in GitHub mode
against the loopback GitHub fake, plus a second web process in local mode (sign-in links)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.children import Child, spawn_previewd
from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from tests.integration.system import AppRepo, System, free_port, start_system, wait_for, web_healthy

CLIENT_ID = "Iv1.previewdtests0001"
CLIENT_SECRET = "browser-test-client-secret"
APP_SLUG = "previewd-tests"
INSTALLATION = 31
OTHER_INSTALLATION = 32
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass
class Dashboard:
    system: System
    fake: FakeGitHub
    github_url: str
    local_url: str
    local_env: dict[str, str]

    @property
    def url(self) -> str:
        return self.system.base_url

    def login_link(self) -> str:
        """`previewd login-link`, as a person runs it on the server (local mode)."""
        result = subprocess.run(
            [sys.executable, "-m", "cli", "login-link"],
            env=self.local_env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def add_project(
        self, repo: AppRepo, *, installation: int | None = INSTALLATION, **config: Any
    ) -> dict[str, Any]:
        # GitHub mode clones from GitHub only (a local path is for local mode): the repository is served
        # by the fake, public, under the project's name.
        full_name = f"tests/{repo.path.name}"
        self.fake.add_repo(full_name, repo.path)
        self.fake.public_repos.add(full_name)
        config.setdefault("clone_url", f"{self.github_url}/{full_name}.git")
        project = self.system.add_project(repo, **config)
        if installation is not None:
            # The repository is on "GitHub" too, reached by that installation, under the same id.
            self.fake.installations[installation].repos.append(project["github_repo_full_name"])
            self.fake.repo_ids[project["github_repo_full_name"]] = project["github_repo_id"]
            with self.system.api() as client:
                response = client.patch(
                    f"/api/projects/{project['id']}", json={"github_installation_id": installation}
                )
            assert response.status_code == 200, response.text
            project = response.json()
        return project

    async def wait_active(self, project_id: str, pr_number: int, sha: str, timeout: float = 90) -> None:
        await asyncio.to_thread(self.system.wait_status, project_id, pr_number, sha, "active", timeout)


def _app_key() -> tuple[bytes, bytes]:
    """The App's private key (PEM) and the public half the fake checks its JWTs with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@contextmanager
def dashboard_system(*, with_app: bool = False) -> Iterator[Dashboard]:
    """`with_app`: the web app also holds the App's key (GITHUB_APP_ID), so API tokens are checked
    with the App's installation token."""
    private, public = _app_key()
    fake = create_fake_github(app_id=4343, public_key_pem=public, client_id=CLIENT_ID, app_slug=APP_SLUG)
    fake.users.client_secret = CLIENT_SECRET
    fake.add_installation(INSTALLATION, repos=["acme/shop", "acme/blog"])
    fake.add_installation(OTHER_INSTALLATION, repos=["rival/secret-app"])
    root = Path(tempfile.mkdtemp(prefix="pvd-ui-"))
    with FakeGitHubServer(fake) as github:
        env = {
            "GITHUB_CLIENT_ID": CLIENT_ID,
            "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
            "GITHUB_APP_SLUG": APP_SLUG,
            "GITHUB_URL": github.url,
            "GITHUB_API_URL": github.url,
        }
        if with_app:
            env.update(GITHUB_APP_ID="4343", GITHUB_APP_PRIVATE_KEY=private.decode())
        system, postgres, temporal = start_system(root, extra_env=env)
        fake.users.callback_url = f"{system.base_url}/auth/github/callback"
        fake.users.setup_url = f"{system.base_url}/setup/callback"
        local_port = free_port()
        local_env = {
            **{k: v for k, v in system.env.items() if not k.startswith("GITHUB_CLIENT")},
            "PREVIEWD_WEB_PORT": str(local_port),
            "PREVIEWD_PREVIEW_PORT": str(free_port()),
            "PREVIEWD_METRICS_PORT": str(free_port()),
            "PREVIEWD_BASE_URL": f"http://127.0.0.1:{local_port}",
        }
        local: Child = spawn_previewd("web-local", ["web"], env=local_env, log_dir=root / "logs")
        try:
            wait_for(
                lambda: web_healthy(f"http://127.0.0.1:{local_port}", [local]),
                timeout=60,
                what="local-mode web",
            )
            yield Dashboard(system, fake, github.url, f"http://127.0.0.1:{local_port}", local_env)
        finally:
            local.stop()
            system.stop()
            temporal.stop()
            postgres.stop()
            shutil.rmtree(root, ignore_errors=True)


CHROMIUM = os.environ.get("PREVIEWD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    # Root in a container has no user namespaces for the sandbox; the network here is closed, so
    # background fetches would only fail (and slow the start).
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
