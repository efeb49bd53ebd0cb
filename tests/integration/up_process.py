"""A real `previewd up` in a subprocess, with its own data dir and free ports, and what a test needs
to look at it: its output, its children by role, the processes under a directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Taken from the test's environment: a configured database or Temporal would be used instead of the
# embedded ones, and a CI's sandbox setting would change what runs.
DROPPED = ("DATABASE_URL", "TEMPORAL_ADDRESS", "PREVIEWD_SANDBOX")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Ports:
    """Where one `up` listens: kept to start it again on the same ports (webhooks already point there)."""

    web: int
    preview: int
    temporal: int
    temporal_ui: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port())


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    data_dir: Path
    output_file: Path
    web_port: int
    preview_port: int
    ports: Ports

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float, *, after: int = 0) -> bool:
        """`text` appears in the output past offset `after` within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output()[after:]:
                return True
            if self.process.poll() is not None:
                return text in self.output()[after:]
            time.sleep(0.2)
        return False

    def child(self, role: str) -> int:
        """The pid of up's child running `previewd <role>`, or the Temporal dev server."""
        for pid in children_of(self.process.pid):
            argv = cmdline(pid)
            if role == "temporal" and "start-dev" in argv:
                return pid
            if argv[-2:] == ["cli", role]:
                return pid
        raise LookupError(f"no {role} child of previewd up; output:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def discard(self) -> None:
        """Stop it if it still runs, and remove its data dir and output."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.output_file.unlink(missing_ok=True)


def start_up(
    data_dir: Path, *, demo: bool, extra_env: dict[str, str] | None = None, ports: Ports | None = None
) -> Up:
    """`previewd up` on `ports` (free ones unless given); its output is appended to a file beside the
    data dir, so a second `up` on the same data dir continues the first one's."""
    ports = ports or Ports.free()
    env = (
        {k: v for k, v in os.environ.items() if k not in DROPPED}
        | {
            "PREVIEWD_DATA_DIR": str(data_dir),
            "PREVIEWD_WEB_PORT": str(ports.web),
            "PREVIEWD_PREVIEW_PORT": str(ports.preview),
            "PREVIEWD_BASE_URL": f"http://localhost:{ports.web}",
            "PREVIEWD_TEMPORAL_PORT": str(ports.temporal),
            "PREVIEWD_TEMPORAL_UI_PORT": str(ports.temporal_ui),
            # Not the defaults: several systems run in one session.
            "PREVIEWD_METRICS_PORT": str(free_port()),
            "PREVIEWD_WORKER_METRICS_PORT": str(free_port()),
        }
        | (extra_env or {})
    )
    output_file = data_dir.parent / f"{data_dir.name}-up.out"
    with open(output_file, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", *([] if demo else ["--no-demo"])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Up(process, data_dir, output_file, ports.web, ports.preview, ports)


def children_of(pid: int) -> list[int]:
    """Children of every thread of pid (a thread of the worker forks the sandboxes)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def processes_under(directory: Path) -> list[int]:
    """Live processes whose working directory or command line is in `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        if cwd.startswith(str(directory)) or any(str(directory) in part for part in cmdline(int(entry.name))):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            kids = children_of(current)
        except OSError:
            continue
        found += kids
        stack += kids
    return found
