"""The toolchain a buildpack would give an app (issue 13): a Python app gets a virtualenv of its own
deployment, a Node app its `node_modules/.bin`, first on PATH for install, build, release and start.

Both live in the deployment's checkout (`/app` in a sandbox), so every step of the deployment sees
the same ones and nothing is shared with another deployment or with previewd: the virtualenv is made
by the system's python3 (PATH is SYSTEM_PATH for that step, never previewd's own virtualenv) without
the system's site-packages, inside the same sandbox as the other steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from activities.local.sandboxing import INNER_WORK_DIR
from activities.processes import SYSTEM_PATH
from activities.workdirs import root_directory

# Relative to the checkout. Under a directory of previewd's name, so an app's own `.venv` or `venv`
# (committed, or made by its install command) is left alone.
VENV_DIR = ".previewd/venv"
NODE_BIN_DIR = "node_modules/.bin"
# A Python or a Node app, as a buildpack tells them: by these files at the app's root.
PYTHON_MARKERS = ("requirements.txt", "pyproject.toml")
NODE_MARKERS = ("package.json",)


def _present(root: Path, name: str) -> bool:
    # lstat, never following a link: a checkout is PR content, and whether a host file a link points
    # at exists is none of its business (it would show as a venv made or not).
    try:
        os.lstat(root / name)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Toolchain:
    python: bool = False
    node: bool = False

    @classmethod
    def detect(cls, app_root: Path) -> Toolchain:
        return cls(
            python=any(_present(app_root, name) for name in PYTHON_MARKERS),
            node=any(_present(app_root, name) for name in NODE_MARKERS),
        )

    def bin_dirs(self, app_root: str) -> list[str]:
        """What goes before SYSTEM_PATH on PATH; `app_root` is the checkout as the step sees it
        (`/app` in a sandbox, the host path without one)."""
        dirs = []
        if self.python:
            dirs.append(f"{app_root}/{VENV_DIR}/bin")
        if self.node:
            dirs.append(f"{app_root}/{NODE_BIN_DIR}")
        return dirs

    def values(self, app_root: str) -> dict[str, str]:
        """PATH (and VIRTUAL_ENV for a Python app) for every step of the deployment."""
        values = {"PATH": ":".join([*self.bin_dirs(app_root), SYSTEM_PATH])}
        if self.python:
            values["VIRTUAL_ENV"] = f"{app_root}/{VENV_DIR}"
            # pip's own nagging is noise in a build log; the version is the system's.
            values["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return values

    def setup_commands(self, app_root: str) -> list[tuple[str, list[str]]]:
        """The steps that make the toolchain, run before the project's install: (label, argv), each
        run with SYSTEM_PATH as PATH. The one place a deployment's toolchain is made, so copying a
        previous deployment's virtualenv or node_modules (same lock files) can be added here."""
        if not self.python:
            return []
        # --clear: a retried build attempt starts from a fresh virtualenv, not a half-made one.
        return [("toolchain", ["python3", "-m", "venv", "--clear", f"{app_root}/{VENV_DIR}"])]


@dataclass(frozen=True)
class AppDirectory:
    """Where a deployment's app lives: the checkout, or a monorepo's root directory in it."""

    # On this host: where unsandboxed steps run and where the toolchain is detected.
    host: Path
    # As the steps see it: `/app[/<root directory>]` in a sandbox, `host` without one.
    seen: str

    @classmethod
    def of(cls, source: Path, subdir: str | None, *, sandboxed: bool) -> AppDirectory:
        """Raises ValueError for a root directory that is not a directory inside the checkout."""
        host = root_directory(source, subdir)
        inner = (subdir or "").strip("/")
        if not sandboxed:
            return cls(host, str(host))
        return cls(host, f"{INNER_WORK_DIR}/{inner}" if inner else INNER_WORK_DIR)
