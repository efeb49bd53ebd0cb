"""The embedded Postgres as one of `previewd up`'s supervised children.

The wheel starts the server as a daemon (pg_ctl), not as our child: it is watched through the
postmaster's pid, and started again through EmbeddedPostgres. Its exit status is not ours to read;
the server's own log says why it went.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from runtime.embedded_postgres import EmbeddedPostgres

REAP_WAIT_SECONDS = 5.0


def running(pid: int) -> bool:
    """pid is a live process (a zombie, whose parent has not reaped it yet, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the command name in parentheses, which may itself hold spaces or ")".
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@dataclass
class Postmaster:
    pid: int
    log_file: Path

    def exit_status(self) -> str | None:
        if running(self.pid):
            return None
        # Under `up` as a subreaper the postmaster is re-parented to us: reap it, or it stays a zombie.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)
        return f"postmaster pid {self.pid} is gone; see {self.log_file}"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Nothing: `previewd up` stops the server last, through the wheel (cli/database.py)."""


def watch(embedded: EmbeddedPostgres) -> Postmaster:
    return Postmaster(embedded.postmaster_pid(), embedded.log_file)


def wait_gone(old: int | None) -> None:
    """A postmaster.pid naming a process that still exists (a zombie not yet reaped by init) passes
    for a running server, and neither the wheel nor pg_ctl would start one: wait for it to be gone."""
    deadline = time.monotonic() + REAP_WAIT_SECONDS
    while old is not None and Path(f"/proc/{old}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def restart(embedded: EmbeddedPostgres) -> Postmaster:
    old = embedded.postmaster_pid()
    wait_gone(old)
    embedded.restart()
    started = watch(embedded)
    if not running(started.pid):
        raise RuntimeError(f"the old postmaster (pid {old}) is still there; see {embedded.log_file}")
    return started
