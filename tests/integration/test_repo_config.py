"""previewd.toml through signed webhooks, the real worker and the GitHub fake: watch paths skip a push,
a fork that edits the file waits for approval, a bad file fails with its line and key, and a file that
is a symbolic link reads nothing of the host."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial

from tests.integration.github_system import REPO, GitHubSystem, before, fork_repository
from tests.integration.system import AppRepo, System, git, wait_for
from tests.integration.test_github_forks import fork_pull_request


@contextmanager
def files_in(
    github: GitHubSystem, files: dict[str, str], links: dict[str, str] | None = None
) -> Iterator[None]:
    """Commits made while inside carry these files; the shared repository is left without them after."""
    root = github.source.path
    try:
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        for name, target in (links or {}).items():
            os.symlink(target, root / name)
        yield
    finally:
        for name in [*files, *(links or {})]:
            (root / name).unlink(missing_ok=True)
        git(root, "add", "-A")
        git(root, "commit", "--quiet", "--allow-empty", "-m", "previewd.toml test cleanup")


def test_a_push_changing_no_watch_path_is_skipped_and_the_old_preview_serves(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 40
    project = github.add_project(9040)
    with files_in(github, {"previewd.toml": 'watch_paths = ["app/"]\n', "app/main.py": "v = 1\n"}):
        first = github.push("watched app", ref=f"refs/heads/pr-{number}")
        fake.set_pull(REPO, number, head_sha=first)
        system.pull_request(project, "opened", number, first)
        live = system.wait_status(project["id"], number, first, "active")
        assert live["effective_config"]["sources"]["watch_paths"] == "previewd.toml"

        (github.source.path / "docs").mkdir(exist_ok=True)
        docs = github.push("docs only", ref=f"refs/heads/pr-{number}", files={"docs/guide.md": "# Guide\n"})
        fake.set_pull(REPO, number, head_sha=docs)
        system.pull_request(project, "synchronize", number, docs)
        skipped = system.wait_status(project["id"], number, docs, "skipped")
        assert any("No watched path changed" in line for line in system.logs(skipped["id"]))
        page = system.preview(live["app_name"])
        assert page.status_code == 200 and first in page.text and docs not in page.text
        assert system.deployments(project["id"], number)[0]["status"] == "active"
        wait_for(lambda: "Skipped" in github.sticky(number), timeout=60, what="the PR told skipped")
        wait_for(lambda: github.commit_states(docs)[-1:] == ["success"], timeout=60, what="a success status")

        # A change under app/ is built again.
        changed = github.push("app change", ref=f"refs/heads/pr-{number}", files={"app/main.py": "v = 2\n"})
        fake.set_pull(REPO, number, head_sha=changed)
        system.pull_request(project, "synchronize", number, changed)
        system.wait_status(project["id"], number, changed, "active")


def test_a_fork_that_edits_previewd_toml_waits_for_approval_under_always(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 41
    project = github.add_project(9041, fork_policy="always")
    main = github.branch_sha()
    with files_in(github, {"previewd.toml": "[env]\nGREETING = 'base'\n"}), main_restored(github, main):
        base = github.push("base with previewd.toml", ref="refs/heads/main")
        (github.source.path / "previewd.toml").write_text("[env]\nGREETING = 'fork'\n")
        head = github.push("fork edits previewd.toml", ref=f"refs/pull/{number}/head")
        fake.set_pull(REPO, number, head_sha=head)
        fork_pull_request(github, project, "opened", number, head, head_repo=fork_repository(),
                          pushed=before(5), base_sha=base)  # fmt: skip
        wait_for(
            lambda: "Waiting for approval" in github.sticky(number), timeout=60, what="the PR told to wait"
        )
        assert "previewd.toml" in github.sticky(number)
        assert system.deployments(project["id"], number) == []

        github.comment(project, number, f"/preview approve {head}", login="maintainer", association="MEMBER")
        live = system.wait_status(project["id"], number, head, "active")
        record = live["effective_config"]
        assert record["read_at"] == head and record["config"]["env_vars"] == {"GREETING": "fork"}

        # A fork push that leaves previewd.toml as the base has it is trusted, read at the base.
        (github.source.path / "previewd.toml").write_text("[env]\nGREETING = 'base'\n")
        same = github.push("fork, file as the base's", ref=f"refs/pull/{number}/head")
        fake.set_pull(REPO, number, head_sha=same)
        fork_pull_request(github, project, "synchronize", number, same, head_repo=fork_repository(),
                          pushed=datetime.now(UTC), base_sha=base)  # fmt: skip
        trusted = system.wait_status(project["id"], number, same, "active")
        assert trusted["effective_config"]["read_at"] == base


@contextmanager
def main_restored(github: GitHubSystem, sha: str) -> Iterator[None]:
    """The shared repository's main back where it was: other tests' forks compare with it."""
    try:
        yield
    finally:
        git(github.fake.repos[REPO], "update-ref", "refs/heads/main", sha)


BAD = """\
# previewd.toml with a number where a command goes
watch_paths = []

[start]
port = 8080

[build]
command = 5
"""


def test_a_bad_previewd_toml_fails_with_its_line_and_key(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 42
    project = github.add_project(9042)
    with files_in(github, {"previewd.toml": BAD}):
        sha = github.push("bad previewd.toml", ref=f"refs/heads/pr-{number}")
        fake.set_pull(REPO, number, head_sha=sha)
        system.pull_request(project, "opened", number, sha)
        failed = system.wait_status(project["id"], number, sha, "failed")
    expected = "previewd.toml:8: build.command: expected a string"
    assert expected in failed["error"]
    assert any(expected in line for line in system.logs(failed["id"]))
    wait_for(lambda: expected in github.sticky(number), timeout=60, what="the PR told the line and key")


def test_a_previewd_toml_that_links_to_a_host_file_reads_nothing_of_it(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    number = 43
    project = github.add_project(9043)
    keys = system.root / "data" / "secret-keys"
    host_secrets = [open("/etc/passwd").read().splitlines()[0], "root:x:"]
    if keys.exists():  # generated at the worker's start unless PREVIEWD_SECRET_KEYS is set
        host_secrets += [line for line in keys.read_text().splitlines() if line.strip()]
    cases = [("previewd.toml", "/etc/passwd"), ("previewd.toml", str(keys)), ("Procfile", str(keys))]
    for index, (name, target) in enumerate(cases):
        with files_in(github, {}, links={name: target}):
            sha = github.push(f"{name} links to {target}", ref=f"refs/heads/pr-{number}")
        fake.set_pull(REPO, number, head_sha=sha)
        system.pull_request(project, "synchronize" if index else "opened", number, sha)
        failed = system.wait_status(project["id"], number, sha, "failed")
        wait_for(partial(told_of, github, number, sha), timeout=60, what="the PR told")
        said = [failed["error"], *system.logs(failed["id"]), github.sticky(number)]
        assert f"{name} is a symbolic link" in failed["error"]
        assert not any(secret in text for secret in [*host_secrets, target] for text in said)


def told_of(github: GitHubSystem, number: int, sha: str) -> bool:
    return sha[:12] in github.sticky(number)


def test_a_monorepo_root_directory_and_health_check_from_previewd_toml(system: System, repo: AppRepo) -> None:
    web = repo.path / "web"
    web.mkdir()
    for name in ("build.py", "server.py"):
        shutil.move(repo.path / name, web / name)
    (repo.path / "previewd.toml").write_text(
        'root_directory = "web"\n\n[health_check]\npath = "/index.html"\ntimeout_seconds = 30\n'
    )
    sha = repo.commit("a monorepo")
    project = system.add_project(repo)
    system.pull_request(project, "opened", 44, sha)
    live = system.wait_status(project["id"], 44, sha, "active")
    assert sha in system.preview(live["app_name"]).text
    sources = live["effective_config"]["sources"]
    assert sources["root_directory"] == sources["health_check_path"] == "previewd.toml"
    assert sources["start_command"] == "dashboard" and sources["port"] == "default"
    dashboard = system.dashboard()
    try:
        page = dashboard.get(f"/deployments/{live['id']}")
    finally:
        dashboard.close()
    assert page.status_code == 200 and "Effective config" in page.text
    assert re.search(
        r"<code>root_directory</code></td><td><code>web</code></td><td>previewd.toml</td>", page.text
    )
    with system.api() as client:
        api = client.get(f"/api/deployments/{live['id']}").json()
    assert api["effective_config"]["sources"]["root_directory"] == "previewd.toml"
