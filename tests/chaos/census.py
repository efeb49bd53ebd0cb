"""Which processes are previewd's: a census taken every second while the suite runs (every process
under `previewd up`, builds, sandboxes and their slirp4netns included), and the sandboxes' cgroups
(`/previewd/d-{deployment}-{step}`). Other helpers' previews may run on the same host, so nothing is
matched by name or uid alone: a process is ours if the census saw it under our `up`, if it runs in a
cgroup of one of our deployments, or if its working directory or command line is in our data dir."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.up_process import cmdline, descendants, processes_under

_SANDBOX_CGROUP = re.compile(r"/previewd/d-(?P<deployment>[0-9a-f-]{36})-(?P<step>[a-z]+)$", re.MULTILINE)


@dataclass(frozen=True)
class Seen:
    pid: int
    start: str  # /proc/<pid>/stat's start time: a pid the kernel gave again is another process
    command: str


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def sandbox_of(pid: int) -> tuple[str, str] | None:
    """(deployment id, step) of the sandbox cgroup the process runs in, if any."""
    try:
        found = _SANDBOX_CGROUP.search(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    return (found["deployment"], found["step"]) if found else None


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


@dataclass
class Census:
    """Samples the tree under `root()` (the current `previewd up`'s pid) every `interval` seconds."""

    root: Callable[[], int]
    interval: float = 1.0
    seen: dict[tuple[int, str], Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-census", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def sample(self) -> None:
        try:
            tree = descendants(self.root())
        except OSError:
            return
        for pid in tree:
            start = start_time(pid)
            if start is not None and (pid, start) not in self.seen:
                self.seen[(pid, start)] = Seen(pid, start, " ".join(cmdline(pid))[:200])

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def still_alive(self) -> list[Seen]:
        """What the census saw that still runs (the same process, not a reused pid)."""
        return [s for s in list(self.seen.values()) if start_time(s.pid) == s.start]


def ours(census: Census, data_dir: Path, deployment_ids: Iterable[str]) -> dict[int, str]:
    """Every live process that is previewd's, pid → what it is."""
    ids = set(deployment_ids)
    found = {s.pid: s.command for s in census.still_alive()}
    for pid in processes_under(data_dir):
        found.setdefault(pid, " ".join(cmdline(pid))[:200])
    for pid in all_pids():
        sandbox = sandbox_of(pid)
        if sandbox is not None and sandbox[0] in ids:
            found.setdefault(pid, f"sandbox d-{sandbox[0]}-{sandbox[1]}: " + " ".join(cmdline(pid))[:150])
    return {pid: what for pid, what in found.items() if start_time(pid) is not None}


def orphans(
    census: Census, data_dir: Path, *, up_pid: int | None, postmaster: int | None, live: set[str],
    deployment_ids: Iterable[str],
) -> dict[int, str]:  # fmt: skip
    """Processes of ours outside previewd's supervision: not under the running `up` (nor the
    Postgres it watches), or a sandbox that is not the app of a live deployment (a build, a
    superseded or destroyed preview)."""
    supervised: set[int] = set()
    for root in (up_pid, postmaster):
        if root is not None and start_time(root) is not None:
            supervised |= {root, *descendants(root)}
    strays = {}
    for pid, what in ours(census, data_dir, deployment_ids).items():
        sandbox = sandbox_of(pid)
        if pid not in supervised:
            strays[pid] = what
        elif sandbox is not None and (sandbox[1] != "app" or sandbox[0] not in live):
            strays[pid] = what
    return strays
