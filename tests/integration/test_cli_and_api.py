"""The CLI and the JSON API, driving real previews."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from models.crypto import Keyring, SecretKeyError
from models.secrets import associated_data
from tests.integration.system import AppRepo, System, wait_for


def previewd(
    system: System, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**system.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_adds_a_project_and_drives_a_pr_through_signed_webhooks(system: System, repo: AppRepo) -> None:
    added = previewd(
        system, "project", "add", "--repo", f"cli/{repo.path.name}", "--clone-url", str(repo.path),
        "--build", "python3 build.py", "--start", "python3 server.py",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    project_id = added.stdout.split()[1]
    assert project_id in previewd(system, "project", "list").stdout
    sha = repo.commit("from the cli")
    opened = previewd(system, "pr", "open", "--project", project_id, "--number", "21")  # sha: the repo's HEAD
    assert opened.returncode == 0 and "202" in opened.stdout, opened.stdout + opened.stderr
    deployment = system.wait_status(project_id, 21, sha, "active")
    assert sha in system.preview(deployment["app_name"]).text
    closed = previewd(system, "pr", "close", "--project", project_id, "--number", "21")
    assert closed.returncode == 0
    system.wait_status(project_id, 21, sha, "destroyed")


def test_pulls_show_workflow_state_and_redeploy_and_destroy_act_on_it(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("api driven")
    system.pull_request(project, "opened", 22, sha, title="API PR")
    first = system.wait_status(project["id"], 22, sha, "active")
    with system.api() as client:
        pulls = client.get(f"/api/projects/{project['id']}/pulls").json()
        assert [p["pr_number"] for p in pulls] == [22]
        assert pulls[0]["workflow"]["phase"] == "active" and pulls[0]["workflow"]["deployed_sha"] == sha
        logs = client.get(f"/api/deployments/{first['id']}/logs").json()
        assert any(line["message"] == "$ python3 build.py" for line in logs["lines"])
        later = client.get(
            f"/api/deployments/{first['id']}/logs", params={"after": logs["next_after"]}
        ).json()
        assert all(line["id"] > logs["next_after"] for line in later["lines"])

        assert client.post(f"/api/projects/{project['id']}/pulls/22/redeploy").status_code == 202

        def redeployed() -> bool:
            rows = system.deployments(project["id"], 22)
            return len(rows) == 2 and rows[1]["status"] == "active"

        wait_for(redeployed, timeout=60, what="the redeploy to go live")
        assert system.deployments(project["id"], 22)[0]["status"] == "replaced"

        assert client.post(f"/api/projects/{project['id']}/pulls/22/destroy").status_code == 202
        wait_for(
            lambda: system.deployments(project["id"], 22)[1]["status"] == "destroyed",
            timeout=60,
            what="destroy",
        )
        assert system.preview(first["app_name"]).status_code == 404
        state = client.get(f"/api/projects/{project['id']}/pulls").json()[0]["workflow"]
        assert state["phase"] == "destroyed"
        assert client.post(f"/api/projects/{project['id']}/pulls/999/redeploy").status_code == 404


def test_secrets_rotate_re_encrypts_under_the_newest_key(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    with system.api() as client:
        assert (
            client.put(
                f"/api/projects/{project['id']}/secrets/TOKEN", json={"value": "rotate-me-1234"}
            ).status_code
            == 204
        )
    before = system.rows("SELECT key_id FROM project_secrets WHERE project_id = :p", p=project["id"])[0][
        "key_id"
    ]
    old_key = (system.root / "data" / "secret-keys").read_text().strip()
    new_key = "A" * 43 + "="
    rotated = previewd(system, "secrets", "rotate", env={"PREVIEWD_SECRET_KEYS": f"{new_key},{old_key}"})
    assert rotated.returncode == 0, rotated.stderr
    after = system.rows("SELECT key_id FROM project_secrets WHERE project_id = :p", p=project["id"])[0][
        "key_id"
    ]
    assert after != before
    # The rotated value decrypts under the new key list; the old key alone no longer opens it.
    row = system.rows(
        "SELECT encrypted_value, key_id FROM project_secrets WHERE project_id = :p", p=project["id"]
    )[0]
    associated = associated_data(uuid.UUID(project["id"]), "TOKEN")
    value = Keyring([new_key, old_key]).decrypt(
        bytes(row["encrypted_value"]), row["key_id"], associated=associated
    )
    assert value == "rotate-me-1234"
    with pytest.raises(SecretKeyError):
        Keyring([old_key]).decrypt(bytes(row["encrypted_value"]), row["key_id"], associated=associated)
    assert "rotate-me" not in rotated.stdout + rotated.stderr


def test_build_past_its_time_limit_fails_with_a_clear_error(system: System, repo: AppRepo) -> None:
    project = system.add_project(
        repo, build_command="python3 -c 'import time; time.sleep(60)'", build_timeout_seconds=10
    )
    sha = repo.commit("too slow")
    started = time.monotonic()
    system.pull_request(project, "opened", 23, sha)
    failed = system.wait_status(project["id"], 23, sha, "failed", timeout=60)
    assert "timed out after 10s" in failed["error"]
    assert time.monotonic() - started < 40
