"""What a dead child of `previewd up` leaves behind is `up`'s to end.

`up` is a child subreaper (prctl PR_SET_CHILD_SUBREAPER): when the worker is killed, the processes it
started (a build, a clone, an unsandboxed preview, a sandbox's helpers) are re-parented to `up`
instead of to init, and `up` kills their process groups and reaps them. The restarted worker starts
again what should run (previews from the route table; builds when Temporal retries them), so nothing
of the dead worker keeps running outside previewd's supervision.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_LIBC = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    if _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children() -> list[int]:
    """This process's children, whichever of its threads they belong to."""
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def end_orphans(known: Iterable[int]) -> list[str]:
    """SIGKILL the process group of every live child not in `known` (nor in up's own group), and
    reap it; a child that already exited is only reaped. Returns what was ended, as "pid (name)"."""
    keep = set(known)
    own_group = os.getpgrp()
    ended = []
    for pid in children():
        if pid in keep:
            continue
        state, name = _state(pid)
        if state not in ("Z", "X", ""):
            with contextlib.suppress(ProcessLookupError):
                group = os.getpgid(pid)
                if group != own_group:
                    os.killpg(group, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
            ended.append(f"{pid} ({name})")
        _reap(pid)
    return ended


def _state(pid: int) -> tuple[str, str]:
    """The process's state letter and name ("" when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    name, rest = stat.split("(", 1)[1].rsplit(")", 1)
    return rest.split()[0], name


def _reap(pid: int, timeout: float = 1.0) -> None:
    """Wait (briefly) for a killed child; one still exiting is reaped by a later round."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.01)
