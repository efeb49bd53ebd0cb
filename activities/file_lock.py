"""An exclusive lock on a file of this host, waited for without blocking the event loop.

What it guards lives on one host (a project's git mirror under the data dir), so a Postgres advisory
lock would serialize hosts that share nothing; flock serializes exactly the processes of this host,
and the kernel drops it when its holder dies, so a killed worker leaves no stale lock behind.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

POLL_SECONDS = 0.1


@asynccontextmanager
async def locked(path: Path, *, heartbeat: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Hold an exclusive flock on `path` (made if missing). While another holds it, poll and
    heartbeat: a cancelled activity stops waiting at once."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await heartbeat()
                await asyncio.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
