"""What a supervisor reads from the worker's heartbeat file (stalled_reason), and the rule /readyz
applies to the heartbeat rows (workers_down)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from models.worker_heartbeats import HeartbeatAge, workers_down
from runtime.worker_heartbeat import Beat, heartbeat_path, stalled_reason, write_beat

NAME = "host-a"


def beat(pid: int | None = None, *, age: float = 1.0, lag_ms: int = 3, pending: int = 0,
         since_progress: float = 1.0) -> Beat:  # fmt: skip
    written = time.time() - age
    return Beat(
        pid=os.getpid() if pid is None else pid, name=NAME, host_queue=f"q-host-{NAME}", written_at=written,
        loop_lag_ms=lag_ms, tasks_started=5 + pending, tasks_completed=5, tasks_pending=pending,
        last_progress_at=written - since_progress,
    )  # fmt: skip


def write(data_dir: Path, value: Beat) -> None:
    write_beat(heartbeat_path(data_dir, NAME), value)


def test_a_fresh_beat_of_a_running_worker_is_healthy(tmp_path: Path) -> None:
    write(tmp_path, beat())
    assert stalled_reason(tmp_path, NAME) is None
    assert stalled_reason(tmp_path) is None  # found without its name too
    assert stalled_reason(tmp_path, NAME, pid=os.getpid()) is None


def test_a_stale_beat_means_stopped_or_frozen(tmp_path: Path) -> None:
    write(tmp_path, beat(age=45))
    reason = stalled_reason(tmp_path, NAME)
    assert reason is not None and "45s ago: it is stopped or frozen" in reason


def test_a_fresh_beat_that_reports_a_stall_is_stalled(tmp_path: Path) -> None:
    write(tmp_path, beat(lag_ms=75_000))
    assert "event loop has been blocked for 75s" in str(stalled_reason(tmp_path, NAME))
    write(tmp_path, beat(pending=3, since_progress=200))
    assert "3 task(s) started but nothing completed for 200s" in str(stalled_reason(tmp_path, NAME))
    write(tmp_path, beat(pending=0, since_progress=5000))  # idle for long: fine
    assert stalled_reason(tmp_path, NAME) is None


def test_no_file_at_all_is_unhealthy_for_the_health_check(tmp_path: Path) -> None:
    reason = stalled_reason(tmp_path, NAME)
    assert reason is not None and "no worker heartbeat" in reason


def test_a_dead_workers_file_is_not_taken_for_a_live_one(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import os; print(os.getpid())"]
    gone = subprocess.run(command, capture_output=True, text=True)
    write(tmp_path, beat(int(gone.stdout)))
    assert "is not running" in str(stalled_reason(tmp_path, NAME))


def test_a_supervised_worker_gets_time_to_write_its_first_beat(tmp_path: Path) -> None:
    write(tmp_path, beat(pid=1))  # another process's beat does not count for the supervised pid
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert stalled_reason(tmp_path, NAME, pid=worker.pid, startup_grace=1.0) is None  # starting
        time.sleep(1.2)
        reason = stalled_reason(tmp_path, NAME, pid=worker.pid, startup_grace=1.0)
        assert reason is not None and f"worker pid {worker.pid} has written no heartbeat" in reason
    finally:
        worker.kill()
        worker.wait()
    # Gone: its exit is the supervisor's to see, not a stall.
    assert stalled_reason(tmp_path, NAME, pid=worker.pid, startup_grace=1.0) is None


def age(host: str, seconds: float, *, lag_ms: int = 0, pending: int = 0, since: float = 0) -> HeartbeatAge:
    return HeartbeatAge(host, seconds, lag_ms, pending, since)


def test_readiness_wants_one_fresh_worker_and_no_stalled_one() -> None:
    assert workers_down([]) == "no worker has reported a heartbeat"
    assert workers_down([age("a", 3)]) is None
    # A host that is gone for good does not hold readiness back while another one beats.
    assert workers_down([age("a", 3), age("old", 9000)]) is None
    assert workers_down([age("a", 41), age("b", 95)]) == "no worker heartbeat for 41s"
    stalled = workers_down([age("a", 2), age("b", 2, pending=2, since=400)])
    assert stalled == "worker b is stalled: 2 task(s) started but nothing completed for 400s"
