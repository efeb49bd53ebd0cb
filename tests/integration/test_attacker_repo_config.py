"""A fork's author against the config that lives in the repository, through the real path (signed
webhook, outbox, worker, clone from the fake GitHub): what runs is decided by the base's files until
a maintainer approves, whichever of them the fork edits."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.github_system import REPO, GitHubSystem, fork_repository
from tests.integration.test_github_forks import fork_pull_request
from tests.integration.test_repo_config import files_in, main_restored

MARK = "FORK-PROCFILE-RAN"


def test_a_fork_that_edits_only_the_procfile_runs_the_bases_web_line(github: GitHubSystem) -> None:
    """Under `always`, with no start command in the dashboard: the Procfile's `web:` line is the start
    command. A fork that leaves previewd.toml alone is trusted and read at its base, Procfile too, so
    its own `web:` line (which would run its choice of command first) never runs unapproved."""
    system, fake = github.system, github.fake
    number = 45
    project = github.add_project(9045, fork_policy="always", start_command=None)
    main = github.branch_sha()
    with files_in(github, {"Procfile": "web: python3 server.py\n"}), main_restored(github, main):
        base = github.push("base with a Procfile", ref="refs/heads/main")
        (github.source.path / "Procfile").write_text(f"web: echo {MARK} && python3 server.py\n")
        head = github.push("fork edits the Procfile", ref=f"refs/pull/{number}/head")
        fake.set_pull(REPO, number, head_sha=head)
        fork_pull_request(github, project, "opened", number, head, head_repo=fork_repository(),
                          pushed=datetime.now(UTC), base_sha=base)  # fmt: skip
        live = system.wait_status(project["id"], number, head, "active")
        record = live["effective_config"]
        assert record["read_at"] == base
        assert record["config"]["start_command"] == "python3 server.py"
        assert record["sources"]["start_command"] == "Procfile"
        page = system.preview(live["app_name"])
        assert page.status_code == 200 and head in page.text
        assert not any(MARK in line for line in system.logs(live["id"]))
