"""`previewd up`'s line about the sandbox: what this host's worker found at its start."""

from __future__ import annotations

import asyncio
import time

from config import Settings
from models.db import Database
from models.sandbox_reports import UNSANDBOXED_NOTICE, SandboxReport

WAIT_SECONDS = 20.0


async def sandbox_line(url: str, settings: Settings, *, since: float) -> str:
    """Waits for the worker's report (written at its start, after `since`, a time.time())."""
    from worker import host_queues  # the worker's own naming of this host's queue

    host_queue, _ = host_queues(settings)
    db = Database(url, pool_size=1)
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while time.monotonic() < deadline:
            async with db.session() as session:
                report = await session.get(SandboxReport, host_queue)
            if report is not None and report.reported_at.timestamp() >= since:
                if report.sandboxed:
                    return "sandbox     PR code runs in a sandbox (bubblewrap, uid 65534, cgroup limits)"
                return (
                    f"sandbox     ⚠ {UNSANDBOXED_NOTICE} ({report.reasons}). Fine for you alone; "
                    "GitHub sign-in admits only the first user and fork previews are refused."
                )
            await asyncio.sleep(0.2)
    finally:
        await db.dispose()
    return "sandbox     the worker has not said yet; see its log"
