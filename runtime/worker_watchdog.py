"""The worker's watchdog: a daemon thread that watches the event loop and the worker's progress.

Every second it posts a no-op to the loop (call_soon_threadsafe) and measures how long the loop takes
to run it. A loop late by LAG_WARNING_SECONDS gets a WARNING naming what it is running (the loop
thread's stack), so the blocking call is named in the log. A loop blocked past LAG_STALL_SECONDS, or
work started with nothing completed for PROGRESS_STALL_SECONDS (runtime/stall_rules.py), gets a
CRITICAL with every thread's stack, and the process leaves with STALLED_EXIT_CODE: a worker that
cannot make progress is worth less than a fresh one, and every supervisor (`previewd up`, compose's
`restart:`, systemd) replaces a process that exits. It also writes the heartbeat file
(runtime/worker_heartbeat.py), from this thread, so a blocked loop still reports its lag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from runtime.stall_rules import (
    HEARTBEAT_SECONDS,
    LAG_STALL_SECONDS,
    LAG_WARNING_SECONDS,
    PROGRESS_STALL_SECONDS,
    stall,
)
from runtime.worker_heartbeat import Beat, write_beat
from runtime.worker_progress import Progress

log = logging.getLogger("previewd.watchdog")

# Distinct from any exit a crash gives (1, 134, 139, 137): "the watchdog replaced a stalled worker".
STALLED_EXIT_CODE = 86
TICK_SECONDS = 1.0
# While the loop stays blocked, its stack is logged again this often.
REPEAT_WARNING_SECONDS = 10.0
# The watchdog's own round this late: the whole process was paused (SIGSTOP, a VM or container
# freeze), not the loop alone. That gap is no lag of the loop; the heartbeat file, which nobody wrote
# meanwhile, is how a supervisor sees a process frozen whole.
PAUSED_SLACK_SECONDS = 5.0


def thread_stack(thread_id: int) -> str:
    frame = sys._current_frames().get(thread_id)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no such thread)\n"


def all_stacks() -> str:
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(
        f"Thread {names.get(ident, '?')} ({ident}):\n{''.join(traceback.format_stack(frame))}"
        for ident, frame in sys._current_frames().items()
    )


class Watchdog:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        progress: Progress,
        *,
        heartbeat_file: Path | None = None,
        name: str = "",
        host_queue: str = "",
        tick: float = TICK_SECONDS,
        warn_after: float = LAG_WARNING_SECONDS,
        lag_limit: float = LAG_STALL_SECONDS,
        progress_limit: float = PROGRESS_STALL_SECONDS,
        exit: Callable[[int], object] = os._exit,
    ) -> None:
        """Create it on the loop's own thread: that thread is the one whose stack a warning shows.
        The limits and `exit` are the tests' to shorten and observe."""
        self.loop = loop
        self.progress = progress
        self.heartbeat_file = heartbeat_file
        self.name, self.host_queue = name, host_queue
        self.tick, self.warn_after = tick, warn_after
        self.lag_limit, self.progress_limit = lag_limit, progress_limit
        self._exit = exit
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="previewd-watchdog", daemon=True)
        self._sent_at: float | None = None  # the ping in flight, if any
        self._answered = threading.Event()
        self._answered_at: float | None = None
        self.lag = 0.0  # seconds: the last ping's delay, or how long the one in flight has waited
        self._warned_at: float | None = None
        self._last_beat = 0.0
        self._last_round: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self._round()
            except Exception:  # the watchdog must outlive whatever one round hit
                log.exception("watchdog round failed")

    def _round(self) -> None:
        now = time.monotonic()
        gap = now - (self._last_round if self._last_round is not None else now)
        self._last_round = now
        if gap > self.tick + PAUSED_SLACK_SECONDS:
            log.warning("the worker process was paused for %.0fs", gap)
            self._sent_at = None  # measure the loop afresh
        if self._sent_at is None or self._answered.is_set():
            if self._sent_at is not None and self._answered_at is not None:
                self.lag = max(0.0, self._answered_at - self._sent_at)
                self._episode_over()
            self._ping(now)
        else:
            self.lag = now - self._sent_at
            if self.lag >= self.warn_after:
                self._warn()
        self._check_stall()
        if self.heartbeat_file is not None and now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self.write_beat()

    def _ping(self, now: float) -> None:
        self._answered.clear()
        self._answered_at = None
        self._sent_at = now
        try:
            self.loop.call_soon_threadsafe(self._pong)
        except RuntimeError:  # the loop is closed: the worker is on its way out
            self._stop.set()

    def _pong(self) -> None:
        self._answered_at = time.monotonic()
        self._answered.set()

    def _warn(self) -> None:
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < REPEAT_WARNING_SECONDS:
            return
        self._warned_at = now
        log.warning(
            "event loop blocked for %.1fs; it is running:\n%s", self.lag, thread_stack(self._loop_thread)
        )

    def _episode_over(self) -> None:
        if self._warned_at is not None:
            log.warning("event loop answered again after %.1fs", self.lag)
            self._warned_at = None

    def _check_stall(self) -> None:
        snapshot = self.progress.snapshot()
        why = stall(
            loop_lag=self.lag,
            pending=snapshot.pending,
            since_progress=snapshot.since_progress,
            lag_limit=self.lag_limit,
            progress_limit=self.progress_limit,
        )
        if why is None:
            return
        log.critical(
            "worker stalled: %s. Exiting with status %d so that it is replaced. Threads:\n%s",
            why,
            STALLED_EXIT_CODE,
            all_stacks(),
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._stop.set()
        self._exit(STALLED_EXIT_CODE)

    def beat(self) -> Beat:
        snapshot = self.progress.snapshot()
        return Beat(
            pid=os.getpid(),
            name=self.name,
            host_queue=self.host_queue,
            written_at=time.time(),
            loop_lag_ms=int(self.lag * 1000),
            tasks_started=snapshot.started,
            tasks_completed=snapshot.completed,
            tasks_pending=snapshot.pending,
            last_progress_at=snapshot.last_progress_at,
        )

    def write_beat(self) -> None:
        assert self.heartbeat_file is not None
        try:
            write_beat(self.heartbeat_file, self.beat())
        except OSError as error:
            log.warning("could not write the heartbeat file %s: %s", self.heartbeat_file, error)
