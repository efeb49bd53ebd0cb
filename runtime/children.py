"""previewd's own child processes (web, worker, Temporal): started in their own session, stopped in order."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def describe_exit(returncode: int) -> str:
    """An exit status in an operator's words: a signal by its name."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_status(self) -> str | None:
        """None while it runs; how it ended once it did."""
        code = self.process.poll()
        return None if code is None else describe_exit(code)

    def kill(self) -> None:
        """SIGKILL its whole process group, now: for a child that is stuck, not for a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def spawn_previewd(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    log_dir: Path,
    preexec: Callable[[], None] | None = None,
) -> Child:
    """Run `previewd <command>` with this interpreter, output to {log_dir}/{name}.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.log"
    with open(log_file, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C reaches `previewd up` alone, which stops children in order.
            start_new_session=True,
            preexec_fn=preexec,
        )
    return Child(name, process, log_file)


def wait_until(check: object, *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False
