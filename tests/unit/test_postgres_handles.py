"""The wheel's count of processes using the embedded Postgres forgets those killed -9 (they never
removed their pid), so the last real user's stop stops the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from runtime.postgres_handles import HANDLES_FILE, forget_dead_handles


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_pids_of_processes_that_are_gone_are_dropped_and_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / HANDLES_FILE).write_text(json.dumps([dead, os.getpid()]))
    lock = threading.Lock()
    assert forget_dead_handles(tmp_path, lock) == [dead]
    assert json.loads((tmp_path / HANDLES_FILE).read_text()) == [os.getpid()]
    assert not lock.locked()


def test_no_list_yet_or_one_the_wheel_did_not_write_is_left_alone(tmp_path: Path) -> None:
    lock = threading.Lock()
    assert forget_dead_handles(tmp_path, lock) == []
    (tmp_path / HANDLES_FILE).write_text("not json")
    assert forget_dead_handles(tmp_path, lock) == []
    assert (tmp_path / HANDLES_FILE).read_text() == "not json"
