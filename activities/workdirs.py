"""Where a deployment's files live on the worker's host: {data_dir}/work/{deployment_id}/, and each
project's build cache: {data_dir}/cache/{project_id}/.

`src/` is the checkout, the one part of a deployment a sandbox sees (mounted and chowned to the
sandbox's uid), beside its project's cache. What previewd reads back (`runtime.log`, `*.pid`) sits
beside `src/`, in the deployment's directory, which only previewd's user can enter or write: the PR
can plant nothing there, no link either. `work/` itself is 0700, so a deployment never sees another's.
"""

from __future__ import annotations

import shutil
import stat
import uuid
from pathlib import Path

PRIVATE_DIR = 0o700


class Workdirs:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "work"
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        found = self.root.lstat()
        if not stat.S_ISDIR(found.st_mode):
            raise ValueError(f"{self.root} must be a directory, not a link or a file")
        if stat.S_IMODE(found.st_mode) != PRIVATE_DIR:
            self.root.chmod(PRIVATE_DIR)
        self.caches = data_dir / "cache"

    def deployment(self, deployment_id: str) -> Path:
        # deployment ids are UUIDs minted by the workflow; refuse anything that could escape root.
        if not deployment_id or "/" in deployment_id or deployment_id.startswith("."):
            raise ValueError(f"bad deployment id {deployment_id!r}")
        return self.root / deployment_id

    def source(self, deployment_id: str) -> Path:
        return self.deployment(deployment_id) / "src"

    def runtime_log(self, deployment_id: str) -> Path:
        return self.deployment(deployment_id) / "runtime.log"

    def pid_file(self, deployment_id: str, role: str) -> Path:
        return self.deployment(deployment_id) / f"{role}.pid"

    def build_cache(self, project_id: str) -> Path:
        """The project's build cache ($HOME/.cache in its sandboxes): it survives its deployments,
        and only that project's sandboxes see it."""
        return self.caches / str(uuid.UUID(project_id))

    def remove(self, deployment_id: str) -> None:
        path = self.deployment(deployment_id)
        if path.is_symlink():
            # Only the link goes: whatever it points at is not this deployment's.
            path.unlink()
            return
        # The checkout is PR content, links included: rmtree removes them and never follows them, by
        # file descriptors on Linux (shutil.rmtree.avoids_symlink_attacks, checked by the tests).
        shutil.rmtree(path, ignore_errors=True)


def root_directory(source: Path, subdir: str | None) -> Path:
    """Where a monorepo's commands run on the host (unsandboxed): `subdir` of the checkout, which must
    resolve inside it (a link in the checkout pointing out of it is refused, not followed)."""
    if not subdir or not subdir.strip("/"):
        return source
    path = (source / subdir.strip("/")).resolve()
    if not path.is_relative_to(source.resolve()) or not path.is_dir():
        raise ValueError(f"root directory {subdir!r} is not a directory of the repository")
    return path
