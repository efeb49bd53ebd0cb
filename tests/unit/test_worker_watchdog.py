"""The worker's watchdog against a real event loop, blocked on purpose."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runtime.worker_progress import CountingExecutor, Progress
from runtime.worker_watchdog import STALLED_EXIT_CODE, Watchdog

ROOT = Path(__file__).resolve().parents[2]


def block_the_loop_with_a_sleep() -> None:
    time.sleep(0.8)


async def test_a_blocked_loop_is_warned_about_naming_the_blocking_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exits: list[int] = []
    watchdog = Watchdog(asyncio.get_running_loop(), Progress(), tick=0.05, warn_after=0.3, exit=exits.append)
    watchdog.start()
    try:
        with caplog.at_level(logging.WARNING, logger="previewd.watchdog"):
            asyncio.get_running_loop().call_soon(block_the_loop_with_a_sleep)
            await asyncio.sleep(0.1)  # the callback blocks the loop through this sleep
            await asyncio.sleep(0.3)  # the loop is back: the watchdog sees its answer
    finally:
        watchdog.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    blocked = [m for m in warnings if m.startswith("event loop blocked")]
    assert blocked, warnings
    # The loop thread's stack names the function and the very line that blocks it.
    assert "block_the_loop_with_a_sleep" in blocked[0] and "time.sleep(0.8)" in blocked[0]
    assert any(m.startswith("event loop answered again after") for m in warnings)
    assert exits == []  # late, not stalled


async def test_a_loop_that_keeps_up_raises_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, Progress(), tick=0.02, warn_after=0.3, exit=lambda c: None)
    watchdog.start()
    with caplog.at_level(logging.WARNING, logger="previewd.watchdog"):
        for _ in range(20):
            await asyncio.sleep(0.02)
    watchdog.stop()
    assert not [r for r in caplog.records if r.name == "previewd.watchdog"]
    assert watchdog.lag < 0.3


def test_a_loop_blocked_past_the_limit_ends_the_process_with_its_stacks(tmp_path: Path) -> None:
    """In a process of its own: the watchdog really leaves with os._exit."""
    script = textwrap.dedent(
        """
        import asyncio, logging, time
        from runtime.worker_progress import Progress
        from runtime.worker_watchdog import Watchdog

        def stuck_forever():
            time.sleep(60)

        async def main():
            Watchdog(asyncio.get_running_loop(), Progress(), tick=0.05, warn_after=0.2, lag_limit=1.0).start()
            stuck_forever()

        logging.basicConfig(level=logging.INFO)
        asyncio.run(main())
        """
    )
    # A file, not `-c`: the stacks then show the source lines.
    (tmp_path / "stuck.py").write_text(script)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(tmp_path / "stuck.py")], cwd=ROOT, capture_output=True, text=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == STALLED_EXIT_CODE, done.stderr
    assert time.monotonic() - started < 10
    assert "CRITICAL:previewd.watchdog:worker stalled: its event loop has been blocked" in done.stderr
    # Every thread's stack: the loop's shows where it is stuck, the watchdog's own is there too.
    assert "stuck_forever" in done.stderr and "time.sleep(60)" in done.stderr
    assert "Thread previewd-watchdog" in done.stderr


async def test_work_started_with_nothing_completed_is_a_stall() -> None:
    progress, exits = Progress(), list[int]()
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, progress, tick=0.05, progress_limit=0.3, exit=exits.append)
    progress.start()  # an activation that never comes back
    watchdog.start()
    await asyncio.sleep(0.6)
    watchdog.stop()
    assert exits == [STALLED_EXIT_CODE]


async def test_heartbeats_count_as_progress_and_idle_is_no_stall() -> None:
    progress, exits = Progress(), list[int]()
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, progress, tick=0.05, progress_limit=0.3, exit=exits.append)
    watchdog.start()
    await asyncio.sleep(0.5)  # idle for longer than the limit: nothing is pending
    progress.start()  # a long build: started, heartbeating, not done
    for _ in range(10):
        progress.heartbeat()
        await asyncio.sleep(0.06)
    progress.finish()
    watchdog.stop()
    assert exits == []


def test_workflow_activations_are_counted_where_the_sdk_runs_them() -> None:
    progress = Progress()
    with CountingExecutor(progress, max_workers=2) as executor:
        futures = [executor.submit(time.sleep, 0.05) for _ in range(4)]
        assert progress.snapshot().pending > 0
        for future in futures:
            future.result()
    snapshot = progress.snapshot()
    assert (snapshot.started, snapshot.completed, snapshot.pending) == (4, 4, 0)


async def test_it_writes_the_heartbeat_file_private_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "run" / "worker-x.health.json"
    progress = Progress()
    watchdog = Watchdog(
        asyncio.get_running_loop(), progress, heartbeat_file=path, name="x", host_queue="q-host-x",
        tick=0.05, exit=lambda c: None,
    )  # fmt: skip
    progress.start()
    progress.finish()
    watchdog.write_beat()
    beat = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert beat["name"] == "x" and beat["host_queue"] == "q-host-x"
    assert beat["tasks_completed"] == 1 and beat["tasks_pending"] == 0
    assert abs(beat["written_at"] - time.time()) < 5
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_a_process_paused_whole_is_not_taken_for_a_blocked_loop(tmp_path: Path) -> None:
    """SIGSTOP past the lag limit (and the pause slack), then SIGCONT: the loop was never behind."""
    script = textwrap.dedent(
        """
        import asyncio, logging, os, signal, subprocess, sys
        from runtime.worker_progress import Progress
        from runtime.worker_watchdog import Watchdog

        async def main():
            Watchdog(asyncio.get_running_loop(), Progress(), tick=0.05, lag_limit=2.0).start()
            await asyncio.sleep(0.3)
            # A helper wakes this process up again 6.5 s after it stops itself.
            wake = f"import os, time; time.sleep(6.5); os.kill({os.getpid()}, signal.SIGCONT)"
            subprocess.Popen([sys.executable, "-c", "import signal; " + wake])
            os.kill(os.getpid(), signal.SIGSTOP)
            await asyncio.sleep(0.5)
            print("still running")

        logging.basicConfig(level=logging.INFO)
        asyncio.run(main())
        """
    )
    (tmp_path / "paused.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "paused.py")], cwd=ROOT, capture_output=True, text=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "still running" in done.stdout
    assert "the worker process was paused for" in done.stderr
