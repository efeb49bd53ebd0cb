"""Stops the embedded Postgres when `previewd up` dies without stopping it (a SIGKILL).

The wheel starts the server as a daemon, so the kernel's parent-death signal cannot reach it. This
small child of `up` gets that signal instead (runtime/parent_death.py) and asks the server for a
fast shutdown. On an orderly stop `up` kills the guard first and stops the server through the wheel.

    python -m runtime.postgres_guard PGDATA
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from runtime.parent_death import die_with_parent


def stop_server(pgdata: Path) -> None:
    """SIGINT to the postmaster named in postmaster.pid: Postgres's fast shutdown."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)


def start_guard(pgdata: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.postgres_guard", str(pgdata)],
        env={"PATH": os.defpath},
        cwd="/",
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def main() -> None:
    pgdata = Path(sys.argv[1])

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop_server(pgdata)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
