"""A child of `previewd up` dies with it: the kernel's parent-death signal (prctl PR_SET_PDEATHSIG).

So a SIGKILL of `previewd up` still sends SIGTERM to the worker (which stops its previews cleanly),
the web app and Temporal. The signal fires when the *thread* that forked the child ends: `up` starts
its children from its main thread only.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
# Loaded before any fork: a preexec_fn should do as little as it can between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int = signal.SIGTERM, *, nice: int = 0) -> Callable[[], None]:
    """A preexec_fn: `sig` reaches the child when this process dies; `nice` lowers its priority."""
    parent = os.getpid()

    def preexec() -> None:
        if _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl: then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)
        if nice:
            os.nice(nice)

    return preexec
