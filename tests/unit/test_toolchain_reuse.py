"""activities/toolchain_reuse.py and the copy steps it plans: the key follows the dependency files
(read from git objects) and nothing else of the commit; a copy runs in the sandbox with the previous
checkout read-only, may fail without failing the build, and never happens unsandboxed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import cast

import pytest

import activities.builders
from activities.builders import LocalBuilder
from activities.logsink import LogSink
from activities.processes import base_env
from activities.toolchain import COPY_SCRIPT, PREVIOUS_DIR
from activities.toolchain_reuse import NODE_MODULES, VIRTUALENV, Reuse, reuse_keys
from config import Settings
from models import DeploymentConfig, LogType
from models.db import Database
from tests.unit.git_repo import commit, git
from web.dashboard.build_times import build_times
from workflows.activity_io import DeploymentRef

REF = DeploymentRef(
    deployment_id=str(uuid.uuid4()), project_id=str(uuid.uuid4()), pr_number=7,
    commit_sha="ab" * 20, app_name="pr-7-app",
)  # fmt: skip


async def test_the_key_follows_the_dependency_files_only(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    env = base_env(tmp_path)
    first = commit(tmp_path, {"requirements.txt": "django\n", "app.py": "1", "package.json": "{}"})
    other_code = commit(tmp_path, {"app.py": "2"})
    new_requirement = commit(tmp_path, {"requirements.txt": "django\nsix\n"})
    in_subdir = commit(tmp_path, {"requirements/dev.txt": "pytest\n"})

    async def keys(sha: str, install: str = "pip install -r requirements.txt") -> dict[str, str]:
        return await reuse_keys(tmp_path, env, sha, None, install)

    base = await keys(first)
    assert set(base) == {VIRTUALENV, NODE_MODULES}
    assert await keys(other_code) == base
    changed = await keys(new_requirement)
    assert changed[VIRTUALENV] != base[VIRTUALENV] and changed[NODE_MODULES] == base[NODE_MODULES]
    assert (await keys(in_subdir))[VIRTUALENV] != changed[VIRTUALENV]
    assert (await keys(first, "pip install .[dev]"))[VIRTUALENV] != base[VIRTUALENV]
    assert await reuse_keys(tmp_path, env, first, "nowhere", None) == {}


def sink() -> LogSink:
    return LogSink(cast(Database, None), REF.deployment_id, LogType.BUILD)


async def test_a_sandboxed_build_copies_the_previous_virtualenv_read_only(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activities.builders, "hand_over", lambda path: None)
    source = tmp_path / "src"
    source.mkdir()
    (source / "requirements.txt").write_text("six\n")
    (source / "package.json").write_text("{}")
    (source / "node_modules").mkdir()  # committed: its own, never replaced by a copy
    previous = tmp_path / "previous-src"
    reuse = Reuse("d-1", "cd" * 20, previous, frozenset({VIRTUALENV, NODE_MODULES}))
    builder = LocalBuilder(Settings(previewd_data_dir=tmp_path / "data"), sandboxed=True)
    config = DeploymentConfig(install_command="pip install -r requirements.txt")
    steps = await builder.plan(REF, config, secrets={}, source=source, sink=sink(), reuse=reuse)
    assert [(s.label, s.optional) for s in steps] == [
        ("virtualenv-copy", True), ("toolchain", False), ("install", False),
    ]  # fmt: skip
    copy, toolchain, install = steps
    assert copy.argv == [
        "/bin/sh", "-c", COPY_SCRIPT, "virtualenv-copy",
        f"{PREVIOUS_DIR}/.previewd/venv", "/app/.previewd/venv",
    ]  # fmt: skip
    assert copy.shown == f"cp -a {PREVIOUS_DIR}/.previewd/venv /app/.previewd/venv"
    assert copy.sandbox is not None and [(b.host, b.inside) for b in copy.sandbox.read_only] == [
        (previous, PREVIOUS_DIR)
    ]
    # Only the copy sees the previous checkout; the project's commands never do.
    assert toolchain.sandbox is not None and toolchain.sandbox.read_only == ()
    assert install.sandbox is not None and install.sandbox.read_only == ()
    assert toolchain.argv[-1] == "/app/.previewd/venv" and "--without-pip" in toolchain.argv[2]


async def test_no_copy_unsandboxed(clean_env: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    reuse = Reuse("d-1", "cd" * 20, tmp_path / "previous", frozenset({VIRTUALENV}))
    steps = await LocalBuilder(Settings()).plan(
        REF, DeploymentConfig(), secrets={}, source=tmp_path, sink=sink(), reuse=reuse
    )
    assert [s.label for s in steps] == ["toolchain"]
    assert steps[0].argv == ["python3", "-m", "venv", "--clear", f"{tmp_path}/.previewd/venv"]


def test_build_times_in_step_order_with_what_was_reused() -> None:
    shown = build_times(
        {
            "seconds": {"start": 1.0, "install": 2.5, "clone": 0.5, "virtualenv-copy": 0.4},
            "reused": {"mirror": "updated", "virtualenv": "0123456789", "build_cache": False},
            "reuse_keys": {"virtualenv": "x"},
        }
    )
    assert shown is not None
    assert [name for name, _ in shown.steps] == ["clone", "virtualenv-copy", "install", "start"]
    assert shown.total == 4.4
    assert shown.reused == [
        ("Git mirror", "updated"),
        ("Virtualenv copied", "yes, from deployment 01234567"),
        ("Build cache (pip, npm…)", "empty"),
    ]
    assert build_times(None) is None
