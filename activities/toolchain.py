"""The toolchain a buildpack would give an app (issue 13): a Python app gets a virtualenv of its own
deployment, a Node app its `node_modules/.bin`, first on PATH for install, build, release and start.

Both live in the deployment's checkout (`/app` in a sandbox), so every step of the deployment sees
the same ones and nothing is shared with another deployment or with previewd: the virtualenv is made
by the system's python3 (PATH is SYSTEM_PATH for that step, never previewd's own virtualenv) without
the system's site-packages, inside the same sandbox as the other steps. A later deployment of the
same PR may start from a copy of the live one's (activities/toolchain_reuse.py says when).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from activities.local.sandboxing import INNER_WORK_DIR
from activities.processes import SHELL, SYSTEM_PATH
from activities.toolchain_reuse import NODE_MODULES, VIRTUALENV
from activities.workdirs import root_directory

# Where a previous deployment's checkout is shown (read-only) to the steps that copy from it.
PREVIOUS_DIR = "/previous"
# Copy a directory whole or not at all: through a `.partial` that is renamed at the end, so a copy
# cut short leaves nothing the next step could take for a toolchain. cp -a copies links as links:
# inside the sandbox they point only at what the sandbox sees anyway.
COPY_SCRIPT = (
    'rm -rf -- "$2" "$2.partial" && mkdir -p -- "$(dirname -- "$2")" && cp -a -- "$1" "$2.partial" '
    '&& mv -- "$2.partial" "$2" || { rm -rf -- "$2.partial"; exit 1; }'
)
# After a copy: the same virtualenv brought up to date with the system's python3 (pyvenv.cfg, the
# interpreter links), its packages kept; isolated (-I), so nothing of the checkout shadows `venv`.
# Without a copy (it failed), a fresh one.
VENV_REFRESH_SCRIPT = (
    'if [ -f "$1/pyvenv.cfg" ]; then exec python3 -I -m venv --without-pip "$1"; fi; '
    'exec python3 -I -m venv --clear "$1"'
)

# Relative to the checkout. Under a directory of previewd's name, so an app's own `.venv` or `venv`
# (committed, or made by its install command) is left alone.
VENV_DIR = ".previewd/venv"
NODE_MODULES_DIR = "node_modules"
NODE_BIN_DIR = f"{NODE_MODULES_DIR}/.bin"
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
class SetupStep:
    label: str
    argv: list[str]
    # A copy from a previous deployment: it sees that checkout at PREVIOUS_DIR, and its failure
    # only means the toolchain is made from scratch.
    copies: bool = False


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

    def setup_commands(self, app_root: str, copy: frozenset[str] = frozenset()) -> list[SetupStep]:
        """The steps that make the toolchain, run before the project's install, each with SYSTEM_PATH
        as PATH: the one place a deployment's toolchain is made. `copy` names the kinds
        (activities/toolchain_reuse.py) to copy from the previous deployment's checkout first; only
        in a sandbox, where `app_root` is under /app and the copy's paths stay right."""
        steps = []
        previous_root = PREVIOUS_DIR + app_root.removeprefix(INNER_WORK_DIR)
        venv = f"{app_root}/{VENV_DIR}"
        if self.python and VIRTUALENV in copy:
            steps.append(_copy("virtualenv-copy", f"{previous_root}/{VENV_DIR}", venv))
            steps.append(SetupStep("toolchain", [SHELL, "-c", VENV_REFRESH_SCRIPT, "toolchain", venv]))
        elif self.python:
            # --clear: a retried build attempt starts from a fresh virtualenv, not a half-made one.
            steps.append(SetupStep("toolchain", ["python3", "-m", "venv", "--clear", venv]))
        if self.node and NODE_MODULES in copy:
            modules = f"{app_root}/{NODE_MODULES_DIR}"
            steps.append(_copy("node-modules-copy", f"{previous_root}/{NODE_MODULES_DIR}", modules))
        return steps


def _copy(label: str, source: str, target: str) -> SetupStep:
    return SetupStep(label, [SHELL, "-c", COPY_SCRIPT, label, source, target], copies=True)


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
