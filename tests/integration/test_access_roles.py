"""People may do on a project what GitHub lets them do on its repository, no more: tried as each role
would, and as someone trying for more, against the real web app and the GitHub fake's user side."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.harness import Dashboard, dashboard_system
from tests.integration.system import AppRepo, wait_for

# Every route that changes something on a project, with the least role it needs.
PUSH_ROUTES = (
    "pulls/1/redeploy", "pulls/1/destroy", "pulls/1/approve", "pulls/1/deploy",
    "pulls/1/keep", "pulls/1/unpin", "pulls/1/extend",
)  # fmt: skip
# A notification channel's id that need not exist: the role is checked before the channel is looked up.
CHANNEL = "notifications/0e0e0e0e-0000-4000-8000-000000000000"
MAINTAIN_ROUTES = (
    "settings", "secrets", "secrets/TOKEN/delete", "disable", "enable", "delete", "notifications",
    f"{CHANNEL}/test", f"{CHANNEL}/pause", f"{CHANNEL}/resume", f"{CHANNEL}/delete",
)  # fmt: skip
# Routes that need the repository's admin role.
ADMIN_ROUTES = ("domain",)


@pytest.fixture(scope="module")
def dash() -> Iterator[Dashboard]:
    with dashboard_system() as running:
        yield running


@pytest.fixture(scope="module")
def project(dash: Dashboard, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = AppRepo.create(tmp_path_factory.mktemp("roles") / f"roles-{uuid.uuid4().hex[:6]}")
    created = dash.add_project(repo)
    with dash.system.api() as client:
        saved = client.put(f"/api/projects/{created['id']}/secrets/TOKEN", json={"value": "s3cret-value"})
    assert saved.status_code == 204, saved.text
    sha = repo.commit("a change to preview")
    dash.system.pull_request(created, "opened", 1, sha)
    dash.system.wait_status(created["id"], 1, sha, "active")
    return created


@contextmanager
def person(dash: Dashboard, login: str, role: str | None, repo: str) -> Iterator[httpx.Client]:
    """`login`, with `role` on `repo` on GitHub, signed in to the dashboard with GitHub."""
    if login not in dash.fake.users.users:
        dash.fake.users.add_user(login, installations=[31], role=None)
    dash.fake.users.set_role(login, repo, role)
    dash.fake.users.login_as(login)
    client = httpx.Client(base_url=dash.url, follow_redirects=True, timeout=30)
    home = client.get("/auth/github")
    assert home.status_code == 200 and login in home.text, home.text
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text)
    assert found, home.text
    client.headers["X-CSRF-Token"] = found.group(1)
    try:
        yield client
    finally:
        client.close()


def post(client: httpx.Client, project: dict[str, Any], route: str) -> httpx.Response:
    # What a person who means it sends: the right confirmation, a secret, a sha.
    form = {"confirm": project["github_repo_full_name"], "name": "TOKEN", "value": "fresh", "sha": "a" * 40}
    return client.post(f"/projects/{project['id']}/{route}", data=form)


def audit(dash: Dashboard, project: dict[str, Any], actor: str) -> list[str]:
    rows = dash.system.rows(
        "SELECT action FROM audit_events WHERE project_id = :p AND actor = :a", p=project["id"], a=actor
    )
    return [row["action"] for row in rows]


def test_a_pull_only_user_sees_the_project_and_its_logs_but_may_do_nothing(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    repo = project["github_repo_full_name"]
    with person(dash, "reeta", "read", repo) as client:
        page = client.get(f"/projects/{project['id']}")
        assert page.status_code == 200
        assert f"/projects/{project['id']}/settings" not in page.text
        pulls = client.get(f"/projects/{project['id']}/pulls")
        assert pulls.status_code == 200 and 'id="pr-1"' in pulls.text
        assert "data-action" not in pulls.text and "workflow</a>" not in pulls.text
        [deployment] = dash.system.deployments(project["id"], 1)[-1:]
        assert client.get(f"/deployments/{deployment['id']}").status_code == 200
        for route in PUSH_ROUTES + MAINTAIN_ROUTES:
            assert post(client, project, route).status_code == 403, route
        assert client.get(f"/projects/{project['id']}/settings").status_code == 403
        assert client.get(f"/projects/{project['id']}/notifications").status_code == 403
    assert audit(dash, project, "reeta") == []
    [row] = dash.system.rows("SELECT is_active FROM projects WHERE id = :p", p=project["id"])
    assert row["is_active"] is True


def test_a_push_user_redeploys_and_approves_but_cannot_open_settings_or_secrets(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    with person(dash, "pia", "write", project["github_repo_full_name"]) as client:
        pulls = client.get(f"/projects/{project['id']}/pulls").text
        assert 'data-action="redeploy"' in pulls and "workflow</a>" not in pulls
        assert post(client, project, "pulls/1/redeploy").status_code == 200
        assert post(client, project, "pulls/1/approve").status_code == 200
        assert f"/projects/{project['id']}/settings" not in client.get(f"/projects/{project['id']}").text
        assert client.get(f"/projects/{project['id']}/settings").status_code == 403
        for route in (*MAINTAIN_ROUTES, *ADMIN_ROUTES):
            assert post(client, project, route).status_code == 403, route
    assert sorted(audit(dash, project, "pia")) == ["approve", "redeploy"]


def test_only_an_admin_sets_the_preview_domain(dash: Dashboard, project: dict[str, Any]) -> None:
    repo = project["github_repo_full_name"]
    domain = f"/projects/{project['id']}/domain"
    with person(dash, "mo", "maintain", repo) as client:
        settings = client.get(f"/projects/{project['id']}/settings").text
        assert 'id="preview-domain"' in settings and 'name="preview_domain"' not in settings
        assert client.post(domain, data={"preview_domain": "previews.example.com"}).status_code == 403
    with person(dash, "nobody-here", None, repo) as client:
        assert client.post(domain, data={"preview_domain": "previews.example.com"}).status_code == 404
    with person(dash, "ad", "admin", repo) as client:
        assert 'name="preview_domain"' in client.get(f"/projects/{project['id']}/settings").text
        refused = client.post(domain, data={"preview_domain": "previews example"})
        assert refused.status_code == 422 and "Preview domain must be a bare domain" in refused.text
        saved = client.post(domain, data={"preview_domain": "Previews.Example.com"})
        assert saved.status_code == 200 and 'value="previews.example.com"' in saved.text
        assert client.post(domain, data={"preview_domain": ""}).status_code == 200
    [row] = dash.system.rows("SELECT preview_domain FROM projects WHERE id = :p", p=project["id"])
    assert row["preview_domain"] is None
    assert audit(dash, project, "ad") == ["set preview domain", "set preview domain"]
    assert audit(dash, project, "mo") == []


def workflow_state(dash: Dashboard, project: dict[str, Any]) -> dict[str, Any]:
    with dash.system.api() as client:
        [pull] = [p for p in client.get(f"/api/projects/{project['id']}/pulls").json() if p["pr_number"] == 1]
    state: dict[str, Any] = pull["workflow"]
    return state


def test_a_push_user_keeps_extends_and_unpins_a_preview_from_the_dashboard_audited(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    with person(dash, "kim", "write", project["github_repo_full_name"]) as client:
        pulls = client.get(f"/projects/{project['id']}/pulls").text
        assert 'data-action="keep"' in pulls and 'data-action="extend"' in pulls
        # Extend by a duration chosen on the page (what `/preview extend 2w` says in a comment).
        assert '<select id="extend-1" name="duration">' in pulls and '<option value="2w">' in pulls
        base = f"/projects/{project['id']}/pulls/1"
        refused = client.post(f"{base}/extend", data={"duration": "forever"})
        assert refused.status_code == 200 and "Not extended" in refused.text
        assert "lives 3d longer" in client.post(f"{base}/extend", data={"duration": "3d"}).text
        wait_for(lambda: bool(workflow_state(dash, project)["extended_until"]), timeout=15, what="extended")
        assert "is pinned" in client.post(f"{base}/keep").text
        wait_for(lambda: workflow_state(dash, project)["pinned_by"] == "kim", timeout=15, what="pinned")
        pulls = client.get(f"/projects/{project['id']}/pulls").text
        assert "Pinned by kim" in pulls and 'data-action="unpin"' in pulls
        assert "is unpinned" in client.post(f"{base}/unpin").text
        wait_for(lambda: workflow_state(dash, project)["pinned_by"] == "", timeout=15, what="unpinned")
    assert audit(dash, project, "kim") == ["extend", "extend", "keep", "unpin"]
    [outcome] = dash.system.rows(
        "SELECT outcome FROM audit_events WHERE project_id = :p AND actor = 'kim' AND outcome <> 'ok'",
        p=project["id"],
    )
    assert "Not extended" in outcome["outcome"]


def test_an_admin_opens_settings_and_sets_secrets_and_sees_the_workflow_link(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    with person(dash, "ada", "admin", project["github_repo_full_name"]) as client:
        assert "workflow</a>" in client.get(f"/projects/{project['id']}/pulls").text
        assert client.get(f"/projects/{project['id']}/settings").status_code == 200
        assert post(client, project, "secrets").status_code == 200
        assert client.get(f"/projects/{project['id']}/notifications").status_code == 200
        assert post(client, project, f"{CHANNEL}/pause").status_code == 404  # no such channel here
    assert audit(dash, project, "ada") == ["set secret"]


def test_a_downgrade_on_github_takes_effect_within_the_cache_lifetime(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    repo = project["github_repo_full_name"]
    with person(dash, "dora", "admin", repo) as client:
        settings = f"/projects/{project['id']}/settings"
        assert client.get(settings).status_code == 200
        dash.fake.users.set_role("dora", repo, "read")
        # Within the cache's lifetime the answer GitHub gave a moment ago stands ...
        assert client.get(settings).status_code == 200
        # ... and once it is 3 minutes old, GitHub is asked again.
        age_cache(dash, "dora")
        assert client.get(settings).status_code == 403
        assert client.get(f"/projects/{project['id']}").status_code == 200
        # Insights go with the project: a reader sees them ...
        assert client.get(f"/projects/{project['id']}/insights").status_code == 200
        assert project["github_repo_full_name"] in client.get("/insights").text
        dash.fake.users.set_role("dora", repo, None)
        age_cache(dash, "dora")
        assert client.get(f"/projects/{project['id']}").status_code == 404
        assert project["github_repo_full_name"] not in client.get("/").text
        # ... and someone who may not see the project is told it does not exist.
        assert client.get(f"/projects/{project['id']}/insights").status_code == 404
        assert project["github_repo_full_name"] not in client.get("/insights").text


def age_cache(dash: Dashboard, login: str) -> None:
    with dash.system.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE repo_roles SET checked_at = checked_at - interval '3 minutes' "
            "WHERE user_id = (SELECT id FROM users WHERE login = %(login)s)",
            {"login": login},
        )


def cli(dash: Dashboard, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], env=dash.system.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def new_token(dash: Dashboard, scope: str) -> tuple[str, str]:
    printed = cli(dash, "token", "create", "--name", f"test-{scope}", "--scope", scope)
    token = printed.splitlines()[0].strip()
    token_id = re.search(r"id ([0-9a-f-]{36})", printed)
    assert token.startswith("pvd_") and token_id, printed
    return token, token_id.group(1)


def api(token: str, dash: Dashboard) -> httpx.Client:
    return httpx.Client(base_url=dash.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_read_token_reads_but_cannot_redeploy_or_touch_secrets(
    dash: Dashboard, project: dict[str, Any]
) -> None:
    token, _ = new_token(dash, "read")
    with api(token, dash) as client:
        assert client.get(f"/api/projects/{project['id']}").status_code == 200
        assert client.get(f"/api/projects/{project['id']}/pulls").status_code == 200
        assert client.post(f"/api/projects/{project['id']}/pulls/1/redeploy").status_code == 403
        assert client.post(f"/api/projects/{project['id']}/pulls/1/destroy").status_code == 403
        for verb in ("keep", "unpin"):
            assert client.post(f"/api/projects/{project['id']}/pulls/1/{verb}").status_code == 403
        extend = client.post(f"/api/projects/{project['id']}/pulls/1/extend", json={"duration": "3d"})
        assert extend.status_code == 403
        secret = client.put(f"/api/projects/{project['id']}/secrets/TOKEN", json={"value": "mine"})
        assert secret.status_code == 403
        patch = client.patch(f"/api/projects/{project['id']}", json={"is_active": False})
        assert patch.status_code == 403
    deploy_token, _ = new_token(dash, "deploy")
    with api(deploy_token, dash) as client:
        assert client.post(f"/api/projects/{project['id']}/pulls/1/redeploy").status_code == 202
        keep = client.post(f"/api/projects/{project['id']}/pulls/1/keep")
        assert keep.status_code == 202 and keep.json()["status"] == "keep requested"
        bad = client.post(f"/api/projects/{project['id']}/pulls/1/extend", json={"duration": "100d"})
        assert bad.status_code == 422
        # A PR number no PR has (past Postgres's INTEGER) is refused naming the field, not a 500.
        huge = client.post(f"/api/projects/{project['id']}/pulls/{2**32}/keep")
        assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["path", "pr_number"]
        extend = client.post(f"/api/projects/{project['id']}/pulls/1/extend", json={"duration": "12h"})
        assert extend.status_code == 202
        assert client.post(f"/api/projects/{project['id']}/pulls/1/unpin").status_code == 202
        assert client.patch(f"/api/projects/{project['id']}", json={"is_active": False}).status_code == 403


def test_a_revoked_or_expired_token_gets_401(dash: Dashboard, project: dict[str, Any]) -> None:
    revoked, revoked_id = new_token(dash, "admin")
    expired, expired_id = new_token(dash, "admin")
    with api(revoked, dash) as client:
        assert client.get(f"/api/projects/{project['id']}").status_code == 200
    assert "revoked" in cli(dash, "token", "revoke", revoked_id)
    with dash.system.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %(id)s",
            {"id": expired_id},
        )
    for token in (revoked, expired):
        with api(token, dash) as client:
            assert client.get(f"/api/projects/{project['id']}").status_code == 401
    listed = cli(dash, "token", "list")
    assert re.search(rf"{revoked_id} .* revoked", listed) and re.search(rf"{expired_id} .* expired", listed)
    # Only digests are stored: the token itself is nowhere in the table.
    assert dash.system.rows("SELECT id FROM api_tokens WHERE token_sha256 = :t", t=revoked) == []


def test_a_github_user_named_admin_gets_no_cli_powers(dash: Dashboard, project: dict[str, Any]) -> None:
    with person(dash, "admin", None, project["github_repo_full_name"]) as client:
        assert client.get(f"/projects/{project['id']}").status_code == 404
        assert project["github_repo_full_name"] not in client.get("/").text
    # The operator's token, made after the GitHub "admin" signed in, is still the operator's.
    token, token_id = new_token(dash, "admin")
    [owner] = dash.system.rows(
        "SELECT u.login, u.github_id, u.is_admin FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.id = :t",
        t=token_id,
    )
    assert owner["github_id"] is None and owner["is_admin"] is True and owner["login"] != "admin"
    [github_admin] = dash.system.rows("SELECT is_admin FROM users WHERE login = 'admin'")
    assert github_admin["is_admin"] is False
    with api(token, dash) as client:
        assert client.get(f"/api/projects/{project['id']}").status_code == 200


def test_connecting_a_repository_needs_admin_on_it(dash: Dashboard, tmp_path: Path) -> None:
    dash.fake.add_installation(41, repos=["acme/connect-me"])
    dash.fake.users.add_user("wes", installations=[41], role="write")
    with person(dash, "wes", "write", "acme/connect-me") as client:
        listed = client.get("/setup/installations/41")
        assert listed.status_code == 200 and "needs the admin role" in listed.text
        repo_id = dash.fake.repo_ids["acme/connect-me"]
        assert client.get(f"/setup/installations/41/repos/{repo_id}").status_code == 403
        form = {"build_command": "touch /tmp/pwned", "start_command": "python3 server.py", "port": "8080"}
        assert client.post(f"/setup/installations/41/repos/{repo_id}", data=form).status_code == 403
    assert dash.system.rows("SELECT id FROM projects WHERE github_repo_id = :r", r=repo_id) == []
