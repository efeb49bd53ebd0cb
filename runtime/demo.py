"""The demo: the example app in a local git repository, a project for it, and PR #1 opened on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# The example app ships in the repository beside the packages (make up runs from a checkout).
EXAMPLE_APP = Path(__file__).resolve().parent.parent / "examples" / "hello"

DEMO_REPO_NAME = "local/previewd-demo"
DEMO_BRANCH = "preview-demo"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=previewd", "-c", "user.email=demo@previewd.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def ensure_demo_repo(data_dir: Path) -> tuple[Path, str]:
    """A git repo with the example app on `main` and a PR branch that changes its message.

    Returns the repo and the PR branch's head sha. Made once; later runs reuse it as it is.
    """
    repo = data_dir / "demo-repo"
    if not (repo / ".git").exists():
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(EXAMPLE_APP, repo, ignore=shutil.ignore_patterns("build", "__pycache__"))
        git(repo, "init", "--quiet", "--initial-branch=main")
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "The example app")
        git(repo, "checkout", "--quiet", "-b", DEMO_BRANCH)
        (repo / "message.txt").write_text("Hello from a pull request preview\n")
        git(repo, "commit", "--quiet", "-am", "Say hello from the PR")
        git(repo, "checkout", "--quiet", "main")
    return repo, git(repo, "rev-parse", DEMO_BRANCH)
