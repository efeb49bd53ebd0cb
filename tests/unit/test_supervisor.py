"""The supervisor with real child processes: an exit is reported by its signal and restarted after
the backoff; a child frozen with SIGSTOP is noticed by its health hook, killed and restarted; a crash
loop raises with the child's name and log; stop_all stops what runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.children import Child
from runtime.restart_policy import RestartPolicy
from runtime.supervisor import ChildSpec, CrashLoop, Supervisor

FAST = RestartPolicy(
    first_delay=0.1, max_delay=0.4, stable_after=60, crash_loop_exits=5, crash_loop_window=60
)


def _spawn(name: str, code: str, log: Path) -> Child:
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Child(name, process, log)


def _tick_until(supervisor: Supervisor, check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.tick()
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("not within the timeout")


def test_a_killed_child_is_restarted_and_the_event_logged(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(events_file=tmp_path / "up.log", say=lines.append, policy=FAST)
    log = tmp_path / "sleeper.log"
    first = supervisor.start(
        ChildSpec("sleeper", lambda: _spawn("sleeper", "import time; time.sleep(60)", log), log)
    )
    try:
        os.kill(first.pid, signal.SIGKILL)
        _tick_until(supervisor, lambda: any("restarted" in line for line in lines))
        assert lines[0] == f"sleeper exited (killed by SIGKILL); restarting it in 0.1s (log: {log})"
        assert lines[1].startswith("sleeper restarted (pid ")
        assert supervisor.alive("sleeper")
        events = (tmp_path / "up.log").read_text().splitlines()
        assert [line.split(" ", 1)[1] for line in events] == lines
    finally:
        supervisor.stop_all()
    assert not supervisor.alive("sleeper")


def test_a_frozen_child_is_noticed_by_its_health_hook_and_replaced(tmp_path: Path) -> None:
    """The child touches a heartbeat file; SIGSTOP freezes it, the hook sees the file go stale."""
    beat = tmp_path / "beat"
    code = f"import pathlib, time\nwhile True:\n    pathlib.Path({str(beat)!r}).touch()\n    time.sleep(0.1)"
    log = tmp_path / "beater.log"
    pids: list[int] = []

    def start() -> Child:
        child = _spawn("beater", code, log)
        pids.append(child.pid)
        return child

    def health(pid: int) -> str | None:
        assert pid == pids[-1]
        age = time.time() - beat.stat().st_mtime if beat.exists() else 0
        return f"no heartbeat for {age:.1f}s" if age > 1 else None

    lines: list[str] = []
    supervisor = Supervisor(events_file=tmp_path / "up.log", say=lines.append, policy=FAST)
    spec = ChildSpec("beater", start, log, health=health, health_grace=0.5, health_interval=0.2)
    frozen = supervisor.start(spec)
    try:
        _tick_until(supervisor, beat.exists)
        # Healthy for a while: no event.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            supervisor.tick()
            time.sleep(0.05)
        assert lines == []
        os.kill(frozen.pid, signal.SIGSTOP)
        _tick_until(supervisor, lambda: any("restarted" in line for line in lines))
        assert lines[0].startswith("beater is stuck (no heartbeat for ")
        assert "killed it (SIGKILL); restarting it in 0.1s" in lines[0]
        assert frozen.exit_status() == "killed by SIGKILL"
        assert len(pids) == 2
        _tick_until(supervisor, lambda: time.time() - beat.stat().st_mtime < 0.5)
    finally:
        supervisor.stop_all()


def test_a_crash_loop_raises_with_the_child_and_its_log(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(events_file=tmp_path / "up.log", say=lines.append, policy=FAST)
    log = tmp_path / "crasher.log"
    supervisor.start(ChildSpec("crasher", lambda: _spawn("crasher", "raise SystemExit(3)", log), log))
    with pytest.raises(CrashLoop) as raised:
        _tick_until(supervisor, lambda: False, timeout=20)
    assert str(raised.value) == f"crasher exited 5 times within 60s; stopping everything. See {log}"
    assert lines[0].startswith("crasher exited (exit status 3); restarting it in 0.1s")
    assert sum("restarted" in line for line in lines) == 4


def test_a_start_that_fails_counts_as_an_exit(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(events_file=tmp_path / "up.log", say=lines.append, policy=FAST)
    log = tmp_path / "flaky.log"
    attempts: list[int] = []

    def start() -> Child:
        attempts.append(1)
        if len(attempts) == 2:
            raise SystemExit("previewd: the port is taken")
        return _spawn("flaky", "import time; time.sleep(60)" if len(attempts) > 2 else "pass", log)

    supervisor.start(ChildSpec("flaky", start, log))
    try:
        _tick_until(supervisor, lambda: any("restarted" in line for line in lines))
        assert (
            lines[1]
            == "flaky did not start (previewd: the port is taken); restarting it in 0.2s (log: " + f"{log})"
        )
    finally:
        supervisor.stop_all()
