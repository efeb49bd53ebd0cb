"""`previewd up` as a subreaper: what a killed child leaves running is re-parented to it and ended,
process group and all; its known children are left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: the test runner must not become a subreaper.
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    from runtime.orphans import become_subreaper, children, end_orphans

    become_subreaper()
    known = subprocess.Popen(["sleep", "60"])
    # A "worker" that starts a "build" in a process group of its own, which starts a helper.
    worker = subprocess.Popen(
        ["sh", "-c", "setsid sh -c 'sleep 60 & echo $$ $!; wait' & wait"], stdout=subprocess.PIPE, text=True
    )
    build, helper = map(int, worker.stdout.readline().split())
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 5
    while build not in children() and time.monotonic() < deadline:
        time.sleep(0.05)
    adopted = build in children()
    ended = end_orphans([known.pid])
    alive = [pid for pid in (build, helper) if os.path.exists(f"/proc/{pid}") and
             open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    print(json.dumps({"adopted": adopted, "ended": ended, "build": build, "alive": alive,
                      "known_alive": known.poll() is None}))
    known.kill()
    """
)


def test_a_dead_childs_process_group_is_ended_and_known_children_kept() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    found = json.loads(result.stdout)
    assert found["adopted"], "the orphan was not re-parented to the subreaper"
    assert found["ended"] == [f"{found['build']} (sh)"]
    assert found["alive"] == [], "the orphan's process group still runs"
    assert found["known_alive"]
    assert time.monotonic() - started < 10
