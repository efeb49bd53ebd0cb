"""When a deployment may start from a copy of the previous one's virtualenv or node_modules.

Only from the same PR's live deployment, on this host, sandboxed, when the key matches. The key is a
digest of the dependency files at the app's root (their git object ids, read from the mirror, never
through the checkout), the install command and the system interpreter the toolchain is made with: a
change to any of them installs from scratch (the per-project pip/npm cache still helps).

Why the same PR, not the project: a virtualenv is written by the PR's own install (and can be by its
running app), so a copy carries that PR's code. Within one PR that is what the next build would run
anyway; across PRs it would let one PR's code (a fork's, say) run in another's build, with that
PR's secrets. A PR's first deployment starts from the project's shared download cache instead.

Unsandboxed there is no reuse: a virtualenv's scripts and `.pth` files name its absolute path, which
differs per deployment on the host; in a sandbox the checkout is always `/app`, so a copy works there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from activities.git_objects import directory_entries
from activities.processes import SYSTEM_PATH
from activities.workdirs import Workdirs
from models.build_stats import live_deployment_of
from models.db import Database

VIRTUALENV = "virtualenv"
NODE_MODULES = "node_modules"
# What decides what an install puts into the toolchain, per kind: file names at the app's root (a
# `requirements/` directory counts by its tree id, so any file in it does).
DEPENDENCY_FILES = {
    VIRTUALENV: (
        "requirements*.txt", "requirements", "pyproject.toml", "poetry.lock", "uv.lock", "Pipfile",
        "Pipfile.lock", "setup.py", "setup.cfg",
    ),
    NODE_MODULES: ("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"),
}  # fmt: skip
INTERPRETER = {VIRTUALENV: "python3", NODE_MODULES: "node"}


def _interpreter(name: str) -> str:
    """The system tool a toolchain is made with, and its build: an upgrade changes size or mtime."""
    found = shutil.which(name, path=SYSTEM_PATH)
    if found is None:
        return f"{name}: none"
    real = os.path.realpath(found)
    info = os.stat(real)
    return f"{real}:{info.st_size}:{int(info.st_mtime)}"


async def reuse_keys(
    mirror: Path, env: dict[str, str], sha: str, root: str | None, install_command: str | None
) -> dict[str, str]:
    """kind → key, for each kind with a dependency file at the app's root at `sha`."""
    entries = await directory_entries(mirror, env, sha, root or "")
    keys = {}
    for kind, patterns in DEPENDENCY_FILES.items():
        found = sorted(
            f"{name}\t{entry.mode}\t{entry.object_id}"
            for name, entry in entries.items()
            if any(fnmatchcase(name, pattern) for pattern in patterns)
        )
        if found:
            text = "\n".join([kind, install_command or "", _interpreter(INTERPRETER[kind]), *found])
            keys[kind] = hashlib.sha256(text.encode()).hexdigest()
    return keys


@dataclass(frozen=True)
class Reuse:
    """A previous deployment whose toolchain a build copies: its checkout on this host and the
    kinds whose key matched."""

    deployment_id: str
    commit_sha: str
    checkout: Path
    kinds: frozenset[str]


async def find_reuse(
    db: Database, workdirs: Workdirs, *, project_id: str, pr_number: int, deployment_id: str,
    keys: dict[str, str],
) -> Reuse | None:  # fmt: skip
    """The PR's live deployment when its checkout is on this host and it shares a key with this one."""
    if not keys:
        return None
    live = await live_deployment_of(
        db, project_id=uuid.UUID(project_id), pr_number=pr_number, other_than=uuid.UUID(deployment_id)
    )
    if live is None:
        return None
    recorded = (live.build_stats or {}).get("reuse_keys") or {}
    kinds = frozenset(kind for kind, key in keys.items() if recorded.get(kind) == key)
    checkout = workdirs.source(str(live.id))
    if not kinds or not checkout.is_dir() or checkout.is_symlink():
        return None
    return Reuse(str(live.id), live.commit_sha, checkout, kinds)
