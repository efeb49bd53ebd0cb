"""What the worker counts as progress: workflow activations and activities started and finished,
and activity heartbeats (a ten-minute build heartbeats every 2 s: it is making progress).

Workflow activations are counted at the thread pool the SDK runs them on (the Worker's
`workflow_task_executor`): outside the workflow sandbox, and every activation passes through it.
Activities are counted by a worker interceptor (temporalio.worker.Interceptor)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressSnapshot:
    started: int
    completed: int
    pending: int
    # Seconds since the last completion or heartbeat (or since work started after an idle spell).
    since_progress: float
    last_progress_at: float  # wall clock


class Progress:
    """Thread-safe counters: the event loop, the workflow threads and the watchdog all touch them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.completed = 0
        self._last = time.monotonic()
        self._last_wall = time.time()

    def _touch(self) -> None:
        self._last, self._last_wall = time.monotonic(), time.time()

    def start(self) -> None:
        with self._lock:
            if self.started == self.completed:
                self._touch()  # after an idle spell, the clock for "nothing completed" starts now
            self.started += 1

    def finish(self) -> None:
        with self._lock:
            self.completed += 1
            self._touch()

    def heartbeat(self) -> None:
        with self._lock:
            self._touch()

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(
                started=self.started,
                completed=self.completed,
                pending=self.started - self.completed,
                since_progress=time.monotonic() - self._last,
                last_progress_at=self._last_wall,
            )


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The workflow task executor: each activation the SDK submits is started here and finished when
    its thread is done with it."""

    def __init__(self, progress: Progress, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="temporal_workflow_")
        self._progress = progress

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        self._progress.start()
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._progress.finish()
            raise
        future.add_done_callback(lambda _: self._progress.finish())
        return future


class ProgressInterceptor(Interceptor):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityCounter(next, self.progress)


class _ActivityCounter(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, progress: Progress) -> None:
        super().__init__(next)
        self.progress = progress

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(_HeartbeatCounter(outbound, self.progress))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self.progress.start()
        try:
            return await super().execute_activity(input)
        finally:
            self.progress.finish()


class _HeartbeatCounter(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, progress: Progress) -> None:
        super().__init__(next)
        self.progress = progress

    def heartbeat(self, *details: Any) -> None:
        self.progress.heartbeat()
        super().heartbeat(*details)
