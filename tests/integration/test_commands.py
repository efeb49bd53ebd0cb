"""Commands as users write them (issue 13 part 1), through the real path: signed webhook → outbox →
worker → sandbox. Command lines run with /bin/sh (`$PORT`, `&&`, pipes); a release command runs
between build and start and its failure keeps the live sha; a Python app gets its own virtualenv;
PR text (title, branch) is only ever an environment variable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from activities.processes import SYSTEM_PATH
from activities.sandbox import probe
from tests.integration.system import AppRepo, System, wait_for
from tests.requirements import require, require_reachable


@pytest.fixture(scope="module", autouse=True)
def sandboxing() -> None:
    # These tests show what runs inside the sandbox (`/app`, its virtualenv); unsandboxed the same
    # code runs on the host, covered by the unit tests.
    found = probe()
    require(found.ok, f"no sandbox on this host: {found}")


def checkout(system: System, deployment_id: object) -> Path:
    return system.root / "data" / "work" / str(deployment_id) / "src"


def test_start_command_line_gets_port_and_runs_with_and(system: System, repo: AppRepo) -> None:
    project = system.add_project(
        repo,
        build_command="python3 build.py | tr a-z A-Z && echo built-for-port-$PORT",
        start_command='echo "starting on $PORT" && exec python3 server.py',
    )
    sha = repo.commit("shell lines")
    system.pull_request(project, "opened", 41, sha)
    deployment = system.wait_status(project["id"], 41, sha, "active")
    assert sha in system.preview(deployment["app_name"]).text
    logs = system.logs(deployment["id"])
    # The pipe ran (tr upper-cased the build's output) and `&&` went on to the next command.
    assert any(line.startswith("BUILT BUILD/INDEX.HTML FOR COMMIT") for line in logs)
    assert "built-for-port-8080" in logs
    wait_for(lambda: "starting on 8080" in system.logs(deployment["id"]), timeout=15, what="start log")


def test_a_failing_release_fails_the_deployment_and_the_old_sha_keeps_serving(
    system: System, repo: AppRepo
) -> None:
    project = system.add_project(repo, release_command="sh release.sh && echo release-done")
    good = repo.commit("good", {"release.sh": "echo migrating for $PREVIEWD_SHA\n", "message.txt": "good"})
    system.pull_request(project, "opened", 42, good)
    live = system.wait_status(project["id"], 42, good, "active")
    logs = system.logs(live["id"])
    assert f"migrating for {good}" in logs and "release-done" in logs
    # The release ran after the build, before the start.
    assert logs.index("$ python3 build.py") < logs.index("$ sh release.sh && echo release-done")

    bad = repo.commit(
        "bad", {"release.sh": "echo 'migration 0042 failed' >&2; exit 3\n", "message.txt": "bad"}
    )
    system.pull_request(project, "synchronize", 42, bad)
    failed = system.wait_status(project["id"], 42, bad, "failed")
    assert "release command" in failed["error"] and "code 3" in failed["error"]
    bad_logs = system.logs(failed["id"])
    assert "migration 0042 failed" in bad_logs and "release command exited with code 3" in bad_logs
    assert "release-done" not in bad_logs
    # Never started: the preview still serves the good sha, from the same deployment.
    page = system.preview(live["app_name"])
    assert page.status_code == 200 and good in page.text and bad not in page.text
    [still] = [row for row in system.deployments(project["id"], 42) if row["id"] == live["id"]]
    assert still["status"] == "active"


WSGI_APP = """\
import os
import sys


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    body = f"wsgi {os.environ['COMMIT_SHA']} prefix={sys.prefix} venv={os.environ.get('VIRTUAL_ENV')}"
    return [body.encode()]
"""


def test_a_python_app_installs_into_its_own_virtualenv_and_starts_its_console_script(
    system: System, repo: AppRepo
) -> None:
    require_reachable("pypi.org", 443)
    project = system.add_project(
        repo,
        install_command="pip install -r requirements.txt",
        build_command=None,
        start_command="gunicorn --bind 0.0.0.0:$PORT --workers 1 wsgi:app",
    )
    sha = repo.commit("python app", {"requirements.txt": "gunicorn\n", "wsgi.py": WSGI_APP})
    system.pull_request(project, "opened", 43, sha)
    deployment = system.wait_status(project["id"], 43, sha, "active", timeout=180)
    page = system.preview(deployment["app_name"])
    assert page.status_code == 200
    # gunicorn came from the deployment's virtualenv, made by the system's python3 in its checkout.
    assert page.text == f"wsgi {sha} prefix=/app/.previewd/venv venv=/app/.previewd/venv"
    venv = checkout(system, deployment["id"]) / ".previewd" / "venv"
    assert (venv / "bin" / "gunicorn").is_file()
    config = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config
    assert ".venv" not in config.split("home = ", 1)[1].splitlines()[0]  # not previewd's own venv
    logs = system.logs(deployment["id"])
    assert "$ python3 -m venv --clear /app/.previewd/venv" in logs
    assert any("Successfully installed" in line and "gunicorn" in line for line in logs)


HOSTILE_TITLE = "$(touch pwned-title) `touch pwned-tick` ; touch pwned-semi"
HOSTILE_BRANCH = "x$(touch${IFS}pwned-branch);id"


def test_pr_title_and_branch_never_become_part_of_a_command(system: System, repo: AppRepo) -> None:
    project = system.add_project(
        repo,
        build_command='python3 build.py && echo "title=$PREVIEWD_PR_TITLE" && echo branch=$PREVIEWD_BRANCH',
        release_command='echo "release for $PREVIEWD_AUTHOR on $PREVIEWD_BRANCH"',
        start_command='echo "start for $PREVIEWD_PR_TITLE" && exec python3 server.py',
    )
    sha = repo.commit("hostile text")
    system.pull_request(
        project, "opened", 44, sha, title=HOSTILE_TITLE, head_ref=HOSTILE_BRANCH, author="m$(id)"
    )
    deployment = system.wait_status(project["id"], 44, sha, "active")
    assert deployment["pr_branch"] == HOSTILE_BRANCH
    wait_for(
        lambda: f"start for {HOSTILE_TITLE}" in system.logs(deployment["id"]), timeout=15, what="start log"
    )
    logs = system.logs(deployment["id"])
    assert f"title={HOSTILE_TITLE}" in logs and f"branch={HOSTILE_BRANCH}" in logs
    assert f"release for m$(id) on {HOSTILE_BRANCH}" in logs
    assert not [line for line in logs if "uid=" in line]
    # Every command ran in the checkout: nothing the text asked for was made there.
    assert sorted(p.name for p in checkout(system, deployment["id"]).glob("pwned*")) == []


MAKE_PAGE = """#!/usr/bin/env node
const fs = require("fs");
fs.mkdirSync("build", { recursive: true });
fs.writeFileSync("build/index.html", `made by make-page for ${process.env.COMMIT_SHA}`);
console.log("make-page wrote build/index.html");
"""


def test_a_node_app_finds_its_dependencies_bin_on_path(system: System, repo: AppRepo) -> None:
    require(shutil.which("npm", path=SYSTEM_PATH) is not None, "no npm in the system's directories")
    # A dependency with a `bin`, from the repository itself (no registry needed): npm links it
    # into node_modules/.bin, and the build command calls it by its bare name.
    tool = repo.path / "tools" / "page-maker"
    tool.mkdir(parents=True)
    (tool / "package.json").write_text(
        json.dumps({"name": "page-maker", "version": "1.0.0", "bin": {"make-page": "make-page.js"}})
    )
    (tool / "make-page.js").write_text(MAKE_PAGE)
    (tool / "make-page.js").chmod(0o755)
    (repo.path / "package.json").write_text(
        json.dumps(
            {"name": "app", "version": "1.0.0", "dependencies": {"page-maker": "file:./tools/page-maker"}}
        )
    )
    project = system.add_project(
        repo, install_command="npm install --no-audit --no-fund", build_command="make-page"
    )
    sha = repo.commit("node app")
    system.pull_request(project, "opened", 45, sha)
    deployment = system.wait_status(project["id"], 45, sha, "active", timeout=180)
    assert system.preview(deployment["app_name"]).text == f"made by make-page for {sha}"
    assert "make-page wrote build/index.html" in system.logs(deployment["id"])
