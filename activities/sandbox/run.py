"""A command run to completion in a sandbox (what a build step needs): output streamed line by line,
a deadline, and nothing of it left running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from activities.processes import wait_until
from activities.sandbox.binaries import HOST_ENV
from activities.sandbox.launch import Launch, SandboxFailed
from activities.sandbox.spec import RunResult, SandboxSpec

# A "line" without a newline is cut here, so a command printing one endless line cannot grow
# previewd's memory without bound.
MAX_LINE_BYTES = 64 * 1024


class _Lines:
    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.partial = b""

    def feed(self, chunk: bytes) -> None:
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        for line in complete:
            self.emit(line)
        while len(self.partial) > MAX_LINE_BYTES:
            self.emit(self.partial[:MAX_LINE_BYTES])
            self.partial = self.partial[MAX_LINE_BYTES:]

    def emit(self, line: bytes) -> None:
        self.on_line(line.decode(errors="replace").rstrip("\r"))

    def flush(self) -> None:
        if self.partial:
            self.emit(self.partial)
            self.partial = b""


async def run(
    spec: SandboxSpec,
    *,
    on_line: Callable[[str], None],
    deadline: float,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> RunResult:
    """Run spec.argv in a sandbox until it exits; every process it started is killed after.

    Raises CommandTimedOut past `deadline` (time.monotonic()), SandboxFailed when the sandbox could
    not be set up. On cancellation the sandbox is torn down before the CancelledError goes on.
    """
    launch = Launch(spec)
    process: asyncio.subprocess.Process | None = None
    pump: asyncio.Task[None] | None = None
    setup: asyncio.Future[None] | None = None
    try:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            # Not spec.env: that reaches the command only (see launch.py).
            env=HOST_ENV,
            cwd="/",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            pass_fds=launch.pass_fds,
            start_new_session=True,
        )
        lines = _Lines(on_line)
        pump = asyncio.create_task(_pump(process, lines))
        # Shielded: a cancelled run must not tear down while the setup thread still starts
        # slirp4netns (the finally clause waits for it).
        setup = asyncio.ensure_future(asyncio.to_thread(launch.spawned, process.pid))
        try:
            await asyncio.shield(setup)
        except SandboxFailed:
            # bwrap's own complaint is in its output: let it reach the log.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), 2.0)
            lines.flush()
            raise
        code = await wait_until(process, deadline, heartbeat)
        # The sandbox is gone with its PID 1, so the pipe closes at once; the timeout is a backstop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pump), 2.0)
        lines.flush()
        return RunResult(exit_code=code, oom_killed=launch.cgroup.oom_killed())
    finally:
        if setup is not None and not setup.done():
            await asyncio.wait({setup})
        launch.kill()
        if pump is not None:
            pump.cancel()
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(process.wait())
        await asyncio.to_thread(launch.close)


async def _pump(process: asyncio.subprocess.Process, lines: _Lines) -> None:
    assert process.stdout is not None
    while chunk := await process.stdout.read(65536):
        lines.feed(chunk)
