"""Everything the worker runs to show it is alive and making progress: the progress counters the
Temporal workers feed, the watchdog thread (and its heartbeat file), and the heartbeat row the web
app reads. Started first thing, so a worker that hangs while starting is noticed too."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from config import Settings
from models.db import Database
from models.worker_heartbeats import record_heartbeat
from runtime.stall_rules import HEARTBEAT_SECONDS
from runtime.worker_heartbeat import heartbeat_path, remove_beat
from runtime.worker_progress import CountingExecutor, Progress, ProgressInterceptor
from runtime.worker_watchdog import Watchdog

log = logging.getLogger("previewd.worker")

# As many threads as workflow tasks may run at once (the SDK's own default): a workflow task is short,
# but one stuck in user code keeps its thread, and the rest must not queue behind it.
WORKFLOW_THREADS = 100


class Liveness:
    def __init__(self, settings: Settings, db: Database, *, name: str, host_queue: str) -> None:
        self.db = db
        self.host_queue = host_queue
        self.progress = Progress()
        self.interceptor = ProgressInterceptor(self.progress)
        self.workflow_executor: ThreadPoolExecutor = CountingExecutor(self.progress, WORKFLOW_THREADS)
        self.heartbeat_file = heartbeat_path(settings.data_dir, name)
        self.watchdog = Watchdog(
            asyncio.get_running_loop(),
            self.progress,
            heartbeat_file=self.heartbeat_file,
            name=name,
            host_queue=host_queue,
        )
        self._rows: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watchdog.start()
        self.watchdog.write_beat()
        self._rows = asyncio.create_task(self._record_rows())

    async def stop(self) -> None:
        if self._rows is not None:
            self._rows.cancel()
            await asyncio.gather(self._rows, return_exceptions=True)
        self.watchdog.stop()
        self.workflow_executor.shutdown(wait=False)
        remove_beat(self.heartbeat_file, os.getpid())

    async def _record_rows(self) -> None:
        """The row is written by the event loop itself: a blocked loop leaves it to go stale."""
        failing = False
        while True:
            snapshot = self.progress.snapshot()
            try:
                async with self.db.session() as session:
                    await asyncio.wait_for(
                        record_heartbeat(
                            session,
                            host_queue=self.host_queue,
                            pid=os.getpid(),
                            loop_lag_ms=int(self.watchdog.lag * 1000),
                            tasks_completed=snapshot.completed,
                            tasks_pending=snapshot.pending,
                            since_progress=snapshot.since_progress,
                        ),
                        HEARTBEAT_SECONDS,
                    )
                if failing:
                    log.info("worker heartbeat recorded again")
                failing = False
            except Exception as error:  # Postgres away, or anything else: the next beat tries again
                if not failing:
                    log.warning("worker heartbeat not recorded (%s); retrying", type(error).__name__)
                failing = True
            await asyncio.sleep(HEARTBEAT_SECONDS)
