"""Clone URLs and paths as an attacker writes them: refused on save with the field named, refused again
by the clone when one is already stored, and the command an injection carried never runs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.system import AppRepo, System


def _injections(marker: Path) -> list[str]:
    return [
        f"--upload-pack=touch {marker};",
        f"--upload-pack=touch%20{marker}",
        f"ext::sh -c touch% {marker}",
        f"ext::touch {marker}",
        "file:///etc",
        "http://127.0.0.1:1/internal/repo.git",
        "https://internal.example/acme/app.git",
    ]


def _refused(detail: list[dict[str, object]], field: str) -> bool:
    return any(item["loc"] == ["body", "deployment_config", field] for item in detail)


def test_each_bad_clone_url_or_path_is_refused_on_save_naming_the_field(
    system: System, repo: AppRepo, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    body = {"github_repo_full_name": f"tests/{repo.path.name}", "deployment_config": {}}
    good = system.add_project(repo)
    with system.api() as client:
        for url in _injections(marker):
            created = client.post("/api/projects", json={**body, "deployment_config": {"clone_url": url}})
            assert created.status_code == 422 and _refused(created.json()["detail"], "clone_url"), url
            patched = client.patch(
                f"/api/projects/{good['id']}", json={"deployment_config": {"clone_url": url}}
            )
            assert patched.status_code == 422 and _refused(patched.json()["detail"], "clone_url"), url
        for path in ("/etc/passwd", "../other/Dockerfile", "docker/../../Dockerfile", "--help"):
            created = client.post(
                "/api/projects", json={**body, "deployment_config": {"dockerfile_path": path}}
            )
            assert created.status_code == 422 and _refused(created.json()["detail"], "dockerfile_path"), path
        # Nothing was lost: the good project still clones from where it did.
        kept = client.get(f"/api/projects/{good['id']}").json()
    assert kept["deployment_config"]["clone_url"] == str(repo.path)
    assert not marker.exists()


@pytest.mark.parametrize("index", range(5))
def test_a_bad_clone_url_already_stored_is_refused_by_the_clone(
    system: System, repo: AppRepo, tmp_path: Path, index: int
) -> None:
    marker = tmp_path / "pwned"
    url = _injections(marker)[index]
    project = system.add_project(repo)
    config = {**project["deployment_config"], "clone_url": url}
    # Written behind the API's back, as a value stored before the rule would be.
    with system.engine.begin() as connection:
        connection.execute(
            text("UPDATE projects SET deployment_config = CAST(:c AS jsonb) WHERE id = :p"),
            {"c": json.dumps(config), "p": project["id"]},
        )
    number = 4000 + index
    sha = repo.commit(f"attack {uuid.uuid4().hex[:6]}")
    system.pull_request(project, "opened", number, sha)
    failed = system.wait_status(project["id"], number, sha, "failed")
    assert "clone_url" in (failed["error"] or "")
    assert not marker.exists()
    assert url not in " ".join(system.logs(failed["id"]))
