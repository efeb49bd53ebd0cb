"""Repositories whose names map to the same preview name, deployed at once: each gets its own app,
decided by the unique index on app_names, and each preview serves its own commit."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from activities.app_names import project_hash
from tests.integration.system import AppRepo, System


def _project(system: System, full_name: str, repo: AppRepo) -> dict[str, Any]:
    body = {
        "github_repo_full_name": full_name,
        "github_repo_id": uuid.uuid4().int % 10**9,
        "deployment_config": {"build_command": "python3 build.py", "start_command": "python3 server.py",
                              "clone_url": str(repo.path)},
    }  # fmt: skip
    with system.api() as client:
        created = client.post("/api/projects", json=body)
    assert created.status_code == 201, created.text
    project: dict[str, Any] = created.json()
    return project


def test_look_alike_repositories_deployed_at_once_get_distinct_apps(system: System, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    names = [f"acme/My.App-{suffix}", f"evil/my-app-{suffix}", f"evil/my_app-{suffix}"]
    repos = [AppRepo.create(tmp_path / f"repo{i}") for i in range(len(names))]
    projects = [_project(system, name, repo) for name, repo in zip(names, repos, strict=True)]
    shas = [repo.commit(f"from {name}") for name, repo in zip(names, repos, strict=True)]

    # The three first deploys of PR #1 race for the same name.
    with ThreadPoolExecutor(len(projects)) as pool:
        list(pool.map(lambda project, sha: system.pull_request(project, "opened", 1, sha), projects, shas))
    live = [system.wait_status(p["id"], 1, sha, "active") for p, sha in zip(projects, shas, strict=True)]

    apps = [row["app_name"] for row in live]
    plain = f"pr-1-my-app-{suffix}"
    assert len(set(apps)) == 3 and apps.count(plain) == 1, apps
    for project, app in zip(projects, apps, strict=True):
        assert app == plain or app.endswith(project_hash(project["id"])), (project, app)
    for app, sha in zip(apps, shas, strict=True):
        assert sha in system.preview(app).text  # each preview serves its own commit, no takeover
    held = system.rows(
        "SELECT name, project_id FROM app_names WHERE platform = 'local' AND name = ANY(:n)", n=apps
    )
    assert {(r["name"], str(r["project_id"])) for r in held} == {
        (app, p["id"]) for app, p in zip(apps, projects, strict=True)
    }
