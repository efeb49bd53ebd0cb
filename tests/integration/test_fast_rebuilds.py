"""Fast rebuilds (issue 13 part 4) and a real Django app, through signed webhooks: the app from
tests/integration/apps/django_app (gunicorn, whitenoise, dj-database-url, a migration) goes live with
Heroku's command lines (install and build configured, release and web from its Procfile), its page
and its static file answer through the proxy, and the PR's second push goes live from the project's
git mirror with a copy of the first deployment's virtualenv. Each deployment's times and what it
reused are on its row, in the API and on its page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.sandbox import probe
from tests.integration.system import AppRepo, System, git, wait_for
from tests.requirements import require, require_reachable

DJANGO_APP = Path(__file__).parent / "apps" / "django_app"
HEROKU_COMMANDS = {
    "install_command": "pip install -r requirements.txt",
    "build_command": "python manage.py collectstatic --noinput",
    # Start and release: the Procfile's web: and release: lines.
    "start_command": None,
}


@pytest.fixture(scope="module", autouse=True)
def sandboxed_with_pypi() -> None:
    # The copy of a virtualenv is made in the sandbox (its inner path /app is what keeps it valid).
    found = probe()
    require(found.ok, f"no sandbox on this host: {found}")
    require_reachable("pypi.org", 443)


@pytest.fixture
def django_repo(tmp_path: Path) -> AppRepo:
    return AppRepo.create(tmp_path / f"django-{uuid.uuid4().hex[:8]}", DJANGO_APP)


def page(system: System, app_name: str, path: str = "/") -> httpx.Response:
    return httpx.get(
        f"http://127.0.0.1:{system.preview_port}{path}",
        headers={"Host": f"{app_name}.localhost:{system.preview_port}"},
        timeout=10,
    )


def total(stats: dict[str, Any]) -> float:
    return float(sum(stats["seconds"].values()))


def test_django_goes_live_and_a_second_push_reuses_mirror_and_virtualenv(
    system: System, django_repo: AppRepo
) -> None:
    project = system.add_project(django_repo, **HEROKU_COMMANDS)
    first_sha = git(django_repo.path, "rev-parse", "HEAD")
    system.pull_request(project, "opened", 131, first_sha)
    first = system.wait_status(project["id"], 131, first_sha, "active", timeout=420)
    logs = system.logs(first["id"])
    assert "Using the Procfile's web: line as the start command" in logs
    assert "$ python manage.py migrate --noinput" in logs
    home = page(system, first["app_name"])
    assert home.status_code == 200, home.text
    assert first_sha in home.text and 'id="message">first<' in home.text
    # The Greeting table exists: the release command's migrate ran before gunicorn served.
    assert re.search(r'id="greetings">\d+<', home.text)
    # collectstatic's output, hashed by whitenoise's manifest storage and served by it.
    [css] = re.findall(r'href="(/static/hello/style\.[0-9a-f]+\.css)"', home.text)
    assert "font-family" in page(system, first["app_name"], css).text

    stats = first["build_stats"]
    assert stats["reused"]["mirror"] == "created"
    assert "virtualenv" not in stats["reused"]
    for step in ("clone", "toolchain", "install", "build", "release", "start"):
        assert stats["seconds"][step] >= 0, step
    assert set(stats["reuse_keys"]) == {"virtualenv"}

    second_sha = django_repo.commit("second", {"message.txt": "second\n"})
    system.pull_request(project, "synchronize", 131, second_sha)
    second = system.wait_status(project["id"], 131, second_sha, "active", timeout=300)
    again = second["build_stats"]
    assert again["reused"]["mirror"] == "updated"
    assert again["reused"]["virtualenv"] == str(first["id"])
    # Whether pip's cache held anything depends on the registry's cache headers (a proxy that
    # strips them leaves pip nothing to keep): recorded either way, as it was found.
    assert isinstance(again["reused"]["build_cache"], bool)
    assert again["reuse_keys"] == stats["reuse_keys"]
    second_logs = system.logs(second["id"])
    assert any(
        line.startswith("$ cp -a /previous/.previewd/venv /app/.previewd/venv") for line in second_logs
    )
    assert any("Requirement already satisfied: Django==5.1.4" in line for line in second_logs)
    home = page(system, second["app_name"])
    assert second_sha in home.text and 'id="message">second<' in home.text
    # The copy is a copy: the first deployment's checkout (and its virtualenv) goes once the second
    # is live, and the second still serves.
    old_checkout = system.root / "data" / "work" / str(first["id"])
    wait_for(lambda: not old_checkout.exists(), timeout=30, what="the first checkout to be removed")
    assert page(system, second["app_name"]).status_code == 200
    assert total(again) < total(stats)
    print(f"first {stats['seconds']}, second {again['seconds']}")

    with system.api() as client:
        shown = client.get(f"/api/deployments/{second['id']}").json()
    assert shown["build_stats"]["reused"]["virtualenv"] == str(first["id"])
    dashboard = system.dashboard()
    try:
        html = dashboard.get(f"/deployments/{second['id']}").text
    finally:
        dashboard.close()
    assert "Build times" in html and "Virtualenv copied: yes, from deployment " + str(first["id"])[:8] in html
    assert "Git mirror: updated" in html
    system.pull_request(project, "closed", 131, second_sha)


def test_changed_requirements_install_from_scratch(system: System, django_repo: AppRepo) -> None:
    """Another requirements.txt: another key, so nothing is copied (the pip cache still helps)."""
    project = system.add_project(django_repo, **HEROKU_COMMANDS)
    first_sha = git(django_repo.path, "rev-parse", "HEAD")
    system.pull_request(project, "opened", 132, first_sha)
    first = system.wait_status(project["id"], 132, first_sha, "active", timeout=420)
    requirements = (DJANGO_APP / "requirements.txt").read_text() + "six==1.16.0\n"
    changed = django_repo.commit("add six", {"requirements.txt": requirements})
    system.pull_request(project, "synchronize", 132, changed)
    second = system.wait_status(project["id"], 132, changed, "active", timeout=300)
    assert (
        second["build_stats"]["reuse_keys"]["virtualenv"] != first["build_stats"]["reuse_keys"]["virtualenv"]
    )
    assert "virtualenv" not in second["build_stats"]["reused"]
    assert not any(line.startswith("$ cp -a") for line in system.logs(second["id"]))
    system.pull_request(project, "closed", 132, changed)
