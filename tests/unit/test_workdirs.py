"""activities/workdirs.py: what previewd reads back stays out of the PR's reach, links are never followed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID
from activities.workdirs import Workdirs
from tests.requirements import require_root_and_setpriv


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path sits under a 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="pvd-wd-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def deployment_with_files(workdirs: Workdirs) -> str:
    deployment_id = str(uuid.uuid4())
    source = workdirs.source(deployment_id)
    source.mkdir(parents=True)
    (source / "server.py").write_text("print('hi')\n")
    workdirs.runtime_log(deployment_id).write_text("secret log line\n")
    workdirs.pid_file(deployment_id, "app").write_text("12345\n")
    return deployment_id


def test_the_work_root_is_private_even_when_it_was_open(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir(mode=0o755)
    os.chmod(tmp_path / "work", 0o755)

    workdirs = Workdirs(tmp_path)

    assert stat.S_IMODE(workdirs.root.stat().st_mode) == 0o700


def test_a_link_in_place_of_the_work_root_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "work").symlink_to(elsewhere)

    with pytest.raises(ValueError, match="not a link"):
        Workdirs(tmp_path / "data")


def test_logs_and_pid_files_are_outside_the_checkout(tmp_path: Path) -> None:
    workdirs = Workdirs(tmp_path)
    deployment_id = str(uuid.uuid4())
    source = workdirs.source(deployment_id)

    for path in (workdirs.runtime_log(deployment_id), workdirs.pid_file(deployment_id, "build")):
        assert source not in path.parents
        assert path.parent == workdirs.deployment(deployment_id)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", ".."])
def test_deployment_ids_that_could_escape_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        Workdirs(tmp_path).deployment(bad)


def test_rmtree_never_follows_links_on_this_platform() -> None:
    assert shutil.rmtree.avoids_symlink_attacks


def test_remove_deletes_links_planted_in_the_checkout_not_their_targets(tmp_path: Path) -> None:
    workdirs = Workdirs(tmp_path / "data")
    deployment_id = deployment_with_files(workdirs)
    keys = tmp_path / "secret-keys"
    keys.write_text("key\n")
    other = tmp_path / "other-deployment"
    other.mkdir()
    (other / "file").write_text("theirs\n")
    source = workdirs.source(deployment_id)
    (source / "keys").symlink_to(keys)
    (source / "other").symlink_to(other, target_is_directory=True)

    workdirs.remove(deployment_id)

    assert not workdirs.deployment(deployment_id).exists()
    assert keys.read_text() == "key\n"
    assert (other / "file").read_text() == "theirs\n"


def test_remove_unlinks_a_link_in_the_deployments_place(tmp_path: Path) -> None:
    workdirs = Workdirs(tmp_path / "data")
    target = tmp_path / "not-ours"
    target.mkdir()
    (target / "file").write_text("keep\n")
    workdirs.deployment("d1").symlink_to(target, target_is_directory=True)

    workdirs.remove("d1")

    assert not workdirs.deployment("d1").is_symlink()
    assert (target / "file").read_text() == "keep\n"


def test_the_sandbox_uid_reads_and_writes_nothing_beside_its_checkout(open_dir: Path) -> None:
    require_root_and_setpriv()
    workdirs = Workdirs(open_dir / "data")
    deployment_id = deployment_with_files(workdirs)
    # As the sandbox will have it: the checkout belongs to the sandbox's uid.
    os.chown(workdirs.source(deployment_id), SANDBOX_UID, SANDBOX_GID)
    # Even with the data dir open (as a mount showing it would), the work root stays shut.
    os.chmod(open_dir / "data", 0o755)
    sandbox = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups"]

    for argv in (
        ["cat", str(workdirs.runtime_log(deployment_id))],
        ["cat", str(workdirs.pid_file(deployment_id, "app"))],
        ["ls", str(workdirs.root)],
        ["ln", "-s", "/etc/shadow", str(workdirs.deployment(deployment_id) / "build.pid")],
    ):
        refused = subprocess.run(sandbox + argv, capture_output=True, text=True, timeout=10)
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, (argv, refused)
