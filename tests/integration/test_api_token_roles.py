"""In GitHub mode an API token is used without its user's OAuth session: its user's role is read with
the App's installation token (`collaborators/{login}/permission`), capped by the token's scope."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.harness import INSTALLATION, Dashboard, dashboard_system
from tests.integration.system import AppRepo


@pytest.fixture(scope="module")
def dash() -> Iterator[Dashboard]:
    with dashboard_system(with_app=True) as running:
        yield running


@pytest.fixture(scope="module")
def project(dash: Dashboard, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dash.add_project(AppRepo.create(tmp_path_factory.mktemp("tok") / f"tok-{uuid.uuid4().hex[:6]}"))


def token_of(dash: Dashboard, login: str, role: str | None, repo: str, scope: str) -> str:
    """`login` signs in with GitHub and makes a token on the dashboard's tokens page."""
    dash.fake.users.add_user(login, installations=[INSTALLATION], role=None)
    dash.fake.users.set_role(login, repo, role)
    dash.fake.users.login_as(login)
    with httpx.Client(base_url=dash.url, follow_redirects=True, timeout=30) as browser:
        page = browser.get("/auth/github")
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert csrf, page.text
        made = browser.post(
            "/tokens", data={"csrf_token": csrf.group(1), "name": "ci", "scope": scope, "days": "30"}
        )
        assert made.status_code == 200, made.text
        found = re.search(r"<code>(pvd_[^<]+)</code>", made.text)
        assert found, made.text
        # Shown once: the list afterwards names it, never shows it.
        assert found.group(1) not in browser.get("/tokens").text
        return found.group(1)


def api(token: str, dash: Dashboard) -> httpx.Client:
    return httpx.Client(base_url=dash.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_token_does_what_its_users_role_and_its_scope_both_allow(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    repo, pid = project["github_repo_full_name"], project["id"]
    reader = token_of(dash, "tara", "read", repo, "admin")
    writer = token_of(dash, "walt", "write", repo, "deploy")
    stranger = token_of(dash, "sven", None, repo, "admin")
    with api(reader, dash) as client:
        assert client.get(f"/api/projects/{pid}").status_code == 200
        # An admin scope does not lift a read-only role.
        assert client.post(f"/api/projects/{pid}/pulls/1/redeploy").status_code == 403
        assert client.put(f"/api/projects/{pid}/secrets/X", json={"value": "v"}).status_code == 403
    with api(writer, dash) as client:
        # Past the check; there is no workflow for PR 1 here, which is the next thing it hears.
        redeploy = client.post(f"/api/projects/{pid}/pulls/1/redeploy")
        assert redeploy.status_code == 404 and "workflow" in redeploy.text
        assert client.patch(f"/api/projects/{pid}", json={"is_active": False}).status_code == 403
        body = {"github_repo_full_name": "walt/own", "github_installation_id": INSTALLATION}
        assert client.post("/api/projects", json=body).status_code == 403
    with api(stranger, dash) as client:
        assert client.get(f"/api/projects/{pid}").status_code == 404
        assert [p["id"] for p in client.get("/api/projects").json()] == []
    [row] = dash.system.rows("SELECT is_active FROM projects WHERE id = :p", p=pid)
    assert row["is_active"] is True
    assert dash.system.rows("SELECT name FROM project_secrets WHERE project_id = :p", p=pid) == []
