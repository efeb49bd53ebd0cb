"""Where a deployment's files live on the worker's host: {data_dir}/work/{deployment_id}/, and each
project's build cache: {data_dir}/cache/{project_id}/.

A sandbox sees only its deployment's `src` (and its project's cache): the runtime log and pid files
beside `src` are previewd's, out of the sandbox's reach.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path


class Workdirs:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "work"
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
        shutil.rmtree(self.deployment(deployment_id), ignore_errors=True)
