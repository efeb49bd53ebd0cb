"""One preview process of this host, as the supervisor tracks it: a sandboxed server, or (without a
sandbox) a process group of its own."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Protocol

from activities.local.runtime_log import RuntimeLog
from activities.processes import group_alive, kill_group


class Running(Protocol):
    """What the supervisor needs of a started preview. activities.sandbox.SandboxServer is one."""

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def stop(self, grace: float = 5.0) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...

    def oom_killed(self) -> bool: ...


class ProcessGroup:
    """An unsandboxed preview: the start command leads a process group; stopping it stops the group."""

    def __init__(self, pid: int, process: subprocess.Popen[bytes] | None) -> None:
        self._pid = pid
        # None for a process adopted from an earlier worker: only its process group can be watched.
        self.process = process

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return group_alive(self._pid)

    def stop(self, grace: float = 5.0) -> int | None:
        kill_group(self._pid, grace=grace)
        return self.process.returncode if self.process is not None else None

    def oom_killed(self) -> bool:
        return False  # no memory limit of its own: the host's OOM killer may pick anything

    def wait(self, timeout: float | None = None) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class Preview:
    deployment_id: str
    app_name: str
    # Where the proxy reaches it on this host: 127.0.0.1:port (a sandbox's forwarded port).
    port: int
    running: Running
    log: RuntimeLog
    restarts: int = 0
    next_restart_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.running.pid

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.running.alive()


class NotRunning:
    """A preview known from the route table whose process is gone (or not started yet)."""

    pid = 0

    def alive(self) -> bool:
        return False

    def stop(self, grace: float = 5.0) -> int | None:
        return None

    def wait(self, timeout: float | None = None) -> int | None:
        return None

    def oom_killed(self) -> bool:
        return False
