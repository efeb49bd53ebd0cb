"""The worker's heartbeat file, and what a supervisor reads from it.

Every HEARTBEAT_SECONDS the worker's watchdog thread (runtime/worker_watchdog.py) replaces
`{data_dir}/run/worker-<name>.health.json` (0600): its pid, the time, its event loop's lag and its
task counts. Written by a thread, not the event loop, so a blocked loop still reports its growing
lag; a process that is stopped (SIGSTOP) or wedged as a whole stops writing, and the file goes stale.

`stalled_reason` is what `previewd up` (its per-child health hook) and `previewd worker-health` (the
compose health check) ask: None while the worker is fine, or not started yet; otherwise why it must
be replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from config import Settings
from runtime.stall_rules import STALE_SECONDS, stall

PRIVATE_FILE = 0o600
# A worker that has written nothing yet is starting (connecting to Temporal, probing the sandbox):
# given this long before its silence counts.
STARTUP_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Beat:
    pid: int
    name: str
    host_queue: str
    # Wall-clock seconds (time.time()): another process compares them with its own clock.
    written_at: float
    loop_lag_ms: int
    tasks_started: int
    tasks_completed: int
    tasks_pending: int
    last_progress_at: float

    @property
    def since_progress(self) -> float:
        return max(0.0, self.written_at - self.last_progress_at)

    def stall(self) -> str | None:
        return stall(
            loop_lag=self.loop_lag_ms / 1000, pending=self.tasks_pending, since_progress=self.since_progress
        )


def worker_name(settings: Settings) -> str:
    """PREVIEWD_WORKER_NAME, else the host name (in compose, each container's own)."""
    return settings.previewd_worker_name or socket.gethostname()


def heartbeat_path(data_dir: Path, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return data_dir / "run" / f"worker-{safe}.health.json"


def write_beat(path: Path, beat: Beat) -> None:
    """Atomically: a reader sees the previous beat or this one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(beat), handle)
    os.replace(temp, path)


def read_beat(path: Path) -> Beat | None:
    try:
        return Beat(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_age(pid: int) -> float | None:
    """Seconds since the process started (Linux /proc), None if it is gone or unknowable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    # Field 22 of stat (index 19 after the command's closing parenthesis): start time in clock ticks.
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def stalled_reason(
    data_dir: Path,
    name: str | None = None,
    *,
    pid: int | None = None,
    now: float | None = None,
    stale_after: float = STALE_SECONDS,
    startup_grace: float = STARTUP_GRACE_SECONDS,
) -> str | None:
    """Why the worker must be replaced, or None (healthy, or not started yet).

    `name`: the worker's name (PREVIEWD_WORKER_NAME, else the host name); None reads every heartbeat
    file under the data dir. `pid`: the worker process a supervisor started; a file another process
    left does not count for it, and until it writes its first beat it gets STARTUP_GRACE_SECONDS."""
    now = time.time() if now is None else now
    run = data_dir / "run"
    paths = [heartbeat_path(data_dir, name)] if name is not None else sorted(run.glob("worker-*.health.json"))
    beats = [beat for path in paths if (beat := read_beat(path)) is not None]
    if pid is not None:
        beats = [beat for beat in beats if beat.pid == pid]
    if not beats:
        if pid is None:
            where = paths[0] if paths else run / "worker-<name>.health.json"
            return f"no worker heartbeat at {where}: the worker is not running, or not started yet"
        age = process_age(pid)
        if age is None or age < startup_grace:
            return None  # gone (its exit is the supervisor's to see) or still starting
        return f"worker pid {pid} has written no heartbeat in the {age:.0f}s since it started"
    beat = max(beats, key=lambda b: b.written_at)
    age = now - beat.written_at
    if pid is None and not pid_alive(beat.pid):
        return f"worker pid {beat.pid} is not running (its last heartbeat is {age:.0f}s old)"
    if age > stale_after:
        return f"worker pid {beat.pid} wrote its last heartbeat {age:.0f}s ago: it is stopped or frozen"
    if (why := beat.stall()) is not None:
        return f"worker pid {beat.pid}: {why}"
    return None


def remove_beat(path: Path, pid: int) -> None:
    """At a clean stop: the file is this process's only (a successor may have written it already)."""
    beat = read_beat(path)
    if beat is not None and beat.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
