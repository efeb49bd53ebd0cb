"""activities/git_mirror.py with real git: a push fetches only its new objects, checkouts are made
from the mirror with nothing of the host in them, a broken or missing mirror is made again, and a
fork's commit fetched into the mirror stays out of another PR's checkout."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.file_lock import locked
from activities.git_fetch import Fetcher, git_env
from activities.git_mirror import Mirror, MirrorUse, pr_ref
from tests.unit.git_repo import commit, git
from workflows.activity_io import ErrorType

T = TypeVar("T")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    repo = tmp_path / "remote"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, {f"file{i}.txt": f"content {i}\n" for i in range(200)})
    return repo


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def error(self, message: str) -> None:
        self.lines.append(message)


def mirror_of(tmp_path: Path, url: Path, sink: Lines | None = None) -> Mirror:
    path = tmp_path / "mirrors" / "project.git"
    path.parent.mkdir(exist_ok=True)
    fetch = Fetcher(
        url=str(url), target=path, env=git_env(path, ["file"], {}), sink=sink or Lines(),
        pid_file=tmp_path / "clone.pid",
    )  # fmt: skip
    return Mirror(fetch)


def in_activity(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    # Fetcher heartbeats as a clone activity does.
    result: T = asyncio.run(ActivityEnvironment().run(work))
    return result


def objects(repo: Path) -> int:
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


def checkout_of(mirror: Mirror, sha: str, target: Path, pr: int = 1) -> None:
    async def work() -> None:
        await mirror.open()
        await mirror.fetch(sha, pr_ref(pr))
        target.mkdir(parents=True)
        await mirror.check_out(sha, target, pr_ref(pr))

    in_activity(work)


def test_a_second_push_fetches_only_its_new_objects(tmp_path: Path, remote: Path) -> None:
    first = git(remote, "rev-parse", "HEAD")
    mirror = mirror_of(tmp_path, remote)
    checkout_of(mirror, first, tmp_path / "one")
    assert mirror.use is MirrorUse.CREATED
    assert (tmp_path / "one" / "file7.txt").read_text() == "content 7\n"
    before = objects(mirror.path)

    second = commit(remote, {"file7.txt": "changed\n"})
    mirror = mirror_of(tmp_path, remote)  # the next clone's
    checkout_of(mirror, second, tmp_path / "two")
    assert mirror.use is MirrorUse.UPDATED
    # The new commit, its root tree and the one changed file: nothing else crossed.
    assert objects(mirror.path) - before == 3
    assert (tmp_path / "two" / "file7.txt").read_text() == "changed\n"
    assert git(tmp_path / "two", "rev-parse", "HEAD") == second
    assert git(mirror.path, "rev-parse", pr_ref(1)) == second
    # The checkout names nothing of the host: no mirror path, no FETCH_HEAD with the URL.
    git_dir = tmp_path / "two" / ".git"
    assert not (git_dir / "FETCH_HEAD").exists()
    for found in git_dir.rglob("*"):
        if found.is_file():
            assert str(tmp_path).encode() not in found.read_bytes(), found


def test_a_commit_the_mirror_has_is_not_fetched_again(tmp_path: Path, remote: Path) -> None:
    sha = git(remote, "rev-parse", "HEAD")
    checkout_of(mirror_of(tmp_path, remote), sha, tmp_path / "one")
    # The remote is gone: only the mirror can answer.
    mirror = mirror_of(tmp_path, tmp_path / "no-such-remote")
    checkout_of(mirror, sha, tmp_path / "again")
    assert mirror.use is MirrorUse.HAD_IT
    assert (tmp_path / "again" / "file1.txt").exists()


def test_a_missing_or_foreign_mirror_is_made_again(tmp_path: Path, remote: Path) -> None:
    sha = git(remote, "rev-parse", "HEAD")
    first = mirror_of(tmp_path, remote)
    checkout_of(first, sha, tmp_path / "one")
    shutil.rmtree(first.path)
    mirror = mirror_of(tmp_path, remote)
    checkout_of(mirror, sha, tmp_path / "two")
    assert mirror.use is MirrorUse.CREATED

    shutil.rmtree(mirror.path)
    mirror.path.mkdir()
    (mirror.path / "HEAD").write_text("not a repository\n")
    again = mirror_of(tmp_path, remote)
    checkout_of(again, sha, tmp_path / "three")
    assert again.use is MirrorUse.REBUILT
    assert (tmp_path / "three" / "file3.txt").read_text() == "content 3\n"


def test_a_corrupt_mirror_is_rebuilt_and_the_checkout_made(tmp_path: Path, remote: Path) -> None:
    sha = git(remote, "rev-parse", "HEAD")
    first = mirror_of(tmp_path, remote)
    checkout_of(first, sha, tmp_path / "one")
    [pack] = (first.path / "objects" / "pack").glob("*.pack")
    pack.chmod(0o644)
    with pack.open("r+b") as damaged:
        damaged.truncate(pack.stat().st_size // 2)
    sink = Lines()
    mirror = mirror_of(tmp_path, remote, sink)
    checkout_of(mirror, sha, tmp_path / "two")
    assert mirror.use is MirrorUse.REBUILT
    assert any("making it again" in line for line in sink.lines)
    assert (tmp_path / "two" / "file199.txt").read_text() == "content 199\n"
    git(mirror.path, "fsck", "--no-dangling")


def test_a_missing_commit_fails_without_rebuilding(tmp_path: Path, remote: Path) -> None:
    sha = git(remote, "rev-parse", "HEAD")
    checkout_of(mirror_of(tmp_path, remote), sha, tmp_path / "one")
    mirror = mirror_of(tmp_path, remote)
    with pytest.raises(ApplicationError) as failed:
        checkout_of(mirror, "0" * 40, tmp_path / "two")
    assert failed.value.type == ErrorType.CLONE_FAILED and failed.value.non_retryable
    assert mirror.use is MirrorUse.HAD_IT  # the mirror was fine, and stays


def test_a_fork_commit_in_the_mirror_stays_out_of_another_checkout(tmp_path: Path, remote: Path) -> None:
    base = git(remote, "rev-parse", "HEAD")
    git(remote, "checkout", "--quiet", "-b", "fork")
    fork = commit(remote, {"fork-only.txt": "the fork's text\n"})
    fork_blob = git(remote, "rev-parse", f"{fork}:fork-only.txt")
    checkout_of(mirror_of(tmp_path, remote), fork, tmp_path / "fork", pr=2)
    mirror = mirror_of(tmp_path, remote)
    checkout_of(mirror, base, tmp_path / "other", pr=1)
    other = tmp_path / "other"
    assert not (other / "fork-only.txt").exists()
    for missing in (fork, fork_blob):
        assert subprocess.run(["git", "cat-file", "-e", missing], cwd=other).returncode != 0


def test_one_holder_of_a_mirror_lock_at_a_time(tmp_path: Path) -> None:
    order: list[str] = []

    async def beat() -> None:
        return None

    async def hold(name: str, seconds: float) -> None:
        async with locked(tmp_path / "project.lock", heartbeat=beat):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    async def both() -> None:
        first = asyncio.create_task(hold("a", 0.3))
        await asyncio.sleep(0.05)
        await hold("b", 0)
        await first

    asyncio.run(both())
    assert order == ["a in", "a out", "b in", "b out"]
