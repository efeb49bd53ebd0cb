"""Where a deployment's files live on the worker's host: {data_dir}/work/{deployment_id}/."""

from __future__ import annotations

import shutil
from pathlib import Path


class Workdirs:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "work"

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

    def remove(self, deployment_id: str) -> None:
        shutil.rmtree(self.deployment(deployment_id), ignore_errors=True)
