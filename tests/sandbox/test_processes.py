"""Processes: nothing of a sandbox outlives it, and its limits hold (fork bomb, 4 GiB)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import pytest

from activities.processes import CommandTimedOut
from activities.sandbox import Limits, Network, SandboxFailed, SandboxServer, kill_all, run, start_server
from activities.sandbox.cgroup import SandboxCgroup
from tests.sandbox.conftest import Dirs, host_cmdlines_with, run_lines, sh, spec_for

pytestmark = [pytest.mark.usefixtures("sandboxing"), pytest.mark.timeout(60)]


def leave_behind(marker: str) -> str:
    """A script leaving a setsid'd sleeper and a double-forked one, both tagged with marker.

    The marker is put together by the shell, so only those two command lines hold it whole (bwrap's
    own holds the script).
    """
    half = len(marker) // 2
    return (
        f"a={marker[:half]}; b={marker[half:]}; "
        'setsid sh -c "sleep 1000; : $a$b-setsid" </dev/null >/dev/null 2>&1 & '
        '(sh -c "sleep 1000; : $a$b-orphan" </dev/null >/dev/null 2>&1 &) ; '
        "sleep 0.2; echo started"
    )


def wait_until_gone(marker: str, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := host_cmdlines_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


async def test_a_finished_build_leaves_nothing_running(dirs: Dirs) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    spec = spec_for(dirs, sh(leave_behind(marker)))
    result, lines = await run_lines(spec)
    assert (result.exit_code, lines) == (0, ["started"])
    assert wait_until_gone(marker) == []
    assert not SandboxCgroup(spec.name).exists


def test_stopping_a_server_kills_its_setsid_and_double_forked_children(dirs: Dirs, tmp_path: Path) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    spec = spec_for(dirs, sh(leave_behind(marker) + "; exec sleep 1000"))
    with open(tmp_path / "server.log", "wb") as log:
        server = start_server(spec, output=log)
        try:
            deadline = time.monotonic() + 5
            while len(host_cmdlines_with(f"{marker}-")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.alive()
            assert len(SandboxCgroup(spec.name).pids()) >= 4
        finally:
            server.stop(grace=1.0)
    assert wait_until_gone(marker) == []
    assert not server.alive()
    assert not SandboxCgroup(spec.name).exists


def test_kill_all_by_name_clears_a_leftover_sandbox(dirs: Dirs, tmp_path: Path) -> None:
    """What a new worker does after a crash: only the sandbox's name is known."""
    marker = f"marker-{uuid.uuid4().hex}"
    spec = spec_for(dirs, sh(leave_behind(marker) + "; exec sleep 1000"))
    server = start_server(spec, output=(tmp_path / "log").open("wb"))
    try:
        deadline = time.monotonic() + 5
        while len(host_cmdlines_with(f"{marker}-")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_all(spec.name)
        assert wait_until_gone(marker) == []
        assert not SandboxCgroup(spec.name).exists
        assert server.wait(5) is not None
    finally:
        server.stop(grace=0)


class Responsiveness:
    """A host thread timing how late a 10 ms sleep wakes up: the host's answer time, roughly."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            time.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - started)

    def __enter__(self) -> Responsiveness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_a_fork_bomb_stops_at_the_pids_limit_and_the_host_keeps_answering(dirs: Dirs) -> None:
    # The sleep keeps the sandbox's main process alive: were it to exit, its PID namespace would take
    # the bomb down at once, and the limit would go untested.
    bomb = ":(){ :|:& };:; sleep 60"
    spec = spec_for(dirs, ["/bin/bash", "-c", bomb], limits=Limits(max_pids=128))
    peak = 0

    async def watch() -> None:
        nonlocal peak
        cgroup = SandboxCgroup(spec.name)
        while True:
            peak = max(peak, len(cgroup.pids()))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    with Responsiveness() as host:
        started = time.monotonic()
        with pytest.raises(CommandTimedOut):
            await run(spec, on_line=lambda _: None, deadline=time.monotonic() + 4)
        took = time.monotonic() - started
    watcher.cancel()
    assert 100 <= peak <= 128, peak
    assert host.worst < 1.0, host.worst
    assert took < 10, took
    assert not SandboxCgroup(spec.name).exists


async def test_allocating_4_gib_with_a_256_mib_limit_is_killed_and_reported(dirs: Dirs) -> None:
    # 64 MiB at a time, each written (b'x' * n fills its pages), 4 GiB in all.
    program = "chunks = [b'x' * (64 << 20) for _ in range(64)]\nprint('allocated 4 GiB')\n"
    spec = spec_for(dirs, ["/usr/bin/python3", "-c", program], limits=Limits(memory_bytes=256 << 20))
    result, lines = await run_lines(spec, seconds=30)
    assert "allocated 4 GiB" not in lines
    assert result.oom_killed
    assert result.exit_code != 0


async def test_sandboxes_side_by_side_each_get_their_own_network(dirs: Dirs) -> None:
    specs = [
        spec_for(dirs, sh(f"echo {n}; ip -o -4 addr show tap0 | wc -l"), network=Network.INTERNET)
        for n in range(4)
    ]
    outcomes = await asyncio.gather(*(run_lines(spec) for spec in specs))
    assert [(r.exit_code, lines) for r, lines in outcomes] == [(0, [str(n), "1"]) for n in range(4)]


async def test_a_missing_work_dir_is_a_sandbox_failure_not_a_command_failure(dirs: Dirs) -> None:
    with pytest.raises(SandboxFailed):
        await run_lines(spec_for(dirs, ["/bin/true"], work_dir=dirs.work / "gone"))


async def test_a_cancelled_build_is_torn_down(dirs: Dirs) -> None:
    """A newer push cancels the build through its activity: nothing of the old one may stay."""
    marker = f"marker-{uuid.uuid4().hex}"
    spec = spec_for(dirs, sh(leave_behind(marker) + "; sleep 1000"), network=Network.INTERNET)
    started = asyncio.Event()

    def on_line(line: str) -> None:
        started.set()

    task = asyncio.create_task(run(spec, on_line=on_line, deadline=time.monotonic() + 30))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_until_gone(marker) == []
    assert not SandboxCgroup(spec.name).exists


def test_a_server_outlives_the_thread_that_started_it(dirs: Dirs, tmp_path: Path) -> None:
    """--die-with-parent fires when the forking *thread* ends: a caller's thread must not matter."""
    started: list[SandboxServer] = []
    log = (tmp_path / "log").open("wb")
    caller = threading.Thread(
        target=lambda: started.append(start_server(spec_for(dirs, ["sleep", "100"]), output=log))
    )
    caller.start()
    caller.join()
    try:
        time.sleep(0.3)
        assert started[0].alive()
    finally:
        started[0].stop(grace=0)
