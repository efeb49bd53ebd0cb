"""One preview process of this host, as the supervisor tracks it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from activities.local.runtime_log import RuntimeLog
from activities.processes import group_alive


@dataclass
class Preview:
    deployment_id: str
    app_name: str
    pid: int
    port: int
    # None for a process adopted from an earlier worker: only its process group can be watched.
    process: subprocess.Popen[bytes] | None
    log: RuntimeLog
    restarts: int = 0
    next_restart_at: float = 0.0

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return group_alive(self.pid)
