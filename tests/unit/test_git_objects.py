"""Files of a commit are read from git objects: a link is never followed, a large blob never read."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from activities.git_objects import GitObjectError, blob_id, changed_paths, read_file, watched

ENV = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, env=ENV, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def commit(repo: Path, files: dict[str, str | None], links: dict[str, str] | None = None) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, target in (links or {}).items():
        (repo / name).unlink(missing_ok=True)
        (repo / name).symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "c")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


def read(repo: Path, sha: str, path: str, max_bytes: int = 1000) -> str | None:
    return asyncio.run(read_file(repo, ENV, sha, path, max_bytes=max_bytes))


def test_reads_the_file_at_that_sha_not_the_checkout(repo: Path) -> None:
    first = commit(repo, {"previewd.toml": "a = 1\n"})
    commit(repo, {"previewd.toml": "a = 2\n"})
    (repo / "previewd.toml").write_text("written in the checkout")
    assert read(repo, first, "previewd.toml") == "a = 1\n"
    assert read(repo, first, "missing.toml") is None


@pytest.mark.parametrize("target", ["/etc/passwd", "../../keys/secret.key"])
def test_a_symbolic_link_is_refused_and_its_target_never_read(repo: Path, target: str) -> None:
    sha = commit(repo, {}, links={"previewd.toml": target})
    with pytest.raises(GitObjectError) as caught:
        read(repo, sha, "previewd.toml")
    assert "symbolic link" in str(caught.value)
    assert "root:" not in str(caught.value) and target not in str(caught.value)


def test_a_file_under_a_linked_directory_is_not_found(repo: Path) -> None:
    (repo / "real").mkdir()
    sha = commit(repo, {"real/previewd.toml": "a = 1\n"}, links={"app": "real"})
    assert read(repo, sha, "app/previewd.toml") is None
    assert read(repo, sha, "real/previewd.toml") == "a = 1\n"


def test_a_blob_over_the_limit_is_not_read(repo: Path) -> None:
    sha = commit(repo, {"previewd.toml": "x" * 5000})
    with pytest.raises(GitObjectError, match="5000 bytes"):
        read(repo, sha, "previewd.toml", max_bytes=1000)


def test_blob_ids_tell_a_changed_file_from_the_same_one(repo: Path) -> None:
    base = commit(repo, {"previewd.toml": "a = 1\n", "app.py": "1"})
    same = commit(repo, {"app.py": "2"})
    changed = commit(repo, {"previewd.toml": "a = 2\n"})
    ids = [asyncio.run(blob_id(repo, ENV, sha, "previewd.toml")) for sha in (base, same, changed)]
    assert ids[0] == ids[1] != ids[2]


def test_changed_paths_and_watch_patterns(repo: Path) -> None:
    old = commit(repo, {"app/main.py": "1", "docs/a.md": "1"})
    new = commit(repo, {"docs/a.md": "2", "docs/b.md": "new"})
    changed = asyncio.run(changed_paths(repo, ENV, old, new))
    assert sorted(changed) == ["docs/a.md", "docs/b.md"]
    assert not any(watched(path, ["app/"]) for path in changed)
    assert watched("docs/a.md", ["docs"]) and watched("docs/a.md", ["*.md"])
    assert not watched("application/x.py", ["app/"]) and not watched("app.py", ["app/"])
