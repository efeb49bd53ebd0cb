"""A cgroup per sandbox: its memory and process limits, and the way to kill every process in it.

Every sandbox runs as the same uid, so per-uid limits would let one fork bomb starve the others; a
cgroup per sandbox does not. The sandbox's first process joins it between fork and exec (see
join_files), so nothing it forks can start outside the limits. Killing goes through the cgroup too:
it holds every process the sandbox started, setsid and double-forked ones included.

cgroup v1 (one hierarchy per controller: memory, pids, freezer) and v2 (one unified hierarchy with
the memory and pids controllers) are both handled; a hybrid host whose v2 hierarchy carries no
controllers is treated as v1.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from activities.sandbox.spec import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
# All sandboxes sit under one parent per hierarchy, so a leftover is easy to find and kill.
PARENT = "previewd"


class CgroupUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Layout:
    version: int
    # v1: the memory, pids and (when mounted) freezer hierarchies; v2: the unified one, once.
    memory: Path
    pids: Path
    freezer: Path | None


def detect(root: Path = CGROUP_ROOT) -> Layout | None:
    """Where memory and pids limits can be set on this host, or None."""
    memory, pids, freezer = root / "memory", root / "pids", root / "freezer"
    if (memory / "memory.limit_in_bytes").exists() and (pids / "cgroup.procs").exists():
        has_freezer = (freezer / "cgroup.procs").exists()
        return Layout(1, memory, pids, freezer if has_freezer else None)
    controllers = root / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        return Layout(2, root, root, root)
    return None


def _write(path: Path, value: str) -> None:
    # Unbuffered single write: a cgroup file takes one value per write(2).
    with open(path, "w", buffering=1) as handle:
        handle.write(value)


class SandboxCgroup:
    def __init__(self, name: str, layout: Layout | None = None) -> None:
        found = layout or detect()
        if found is None:
            raise CgroupUnavailable("no cgroup hierarchy with the memory and pids controllers")
        self.layout = found
        self.name = name
        hierarchies = [found.memory, found.pids] + ([found.freezer] if found.freezer else [])
        # v2 names one directory three times.
        self.dirs = list(dict.fromkeys(h / PARENT / name for h in hierarchies))

    @property
    def exists(self) -> bool:
        return any(d.exists() for d in self.dirs)

    def create(self, limits: Limits) -> None:
        """Create the cgroup with its limits; a leftover of the same name is killed first."""
        if self.exists:
            self.kill()
            self.remove()
        if self.layout.version == 2:
            self._enable_v2_controllers()
        for directory in self.dirs:
            directory.mkdir(parents=True)
        try:
            self._set_limits(limits)
        except BaseException:
            self.remove()
            raise

    def _enable_v2_controllers(self) -> None:
        parent = self.layout.memory / PARENT
        parent.mkdir(exist_ok=True)
        for level in (self.layout.memory, parent):
            _write(level / "cgroup.subtree_control", "+memory +pids")

    def _set_limits(self, limits: Limits) -> None:
        if self.layout.version == 1:
            memory = self.layout.memory / PARENT / self.name
            _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
            # With swap accounting on, memory+swap gets the same ceiling: swapping is no way around it.
            memsw = memory / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                _write(memsw, str(limits.memory_bytes))
            _write(self.layout.pids / PARENT / self.name / "pids.max", str(limits.max_pids))
            return
        directory = self.dirs[0]
        _write(directory / "memory.max", str(limits.memory_bytes))
        if (directory / "memory.swap.max").exists():
            _write(directory / "memory.swap.max", "0")
        _write(directory / "pids.max", str(limits.max_pids))

    def join_files(self) -> list[str]:
        """The cgroup.procs files a new process writes "0" (itself) into before it execs."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self.dirs:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this sandbox (read before remove)."""
        memory = self.layout.memory / PARENT / self.name
        events = "memory.oom_control" if self.layout.version == 1 else "memory.events"
        with contextlib.suppress(FileNotFoundError):
            for line in (memory / events).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def signal_all(self, signum: int, *, spare: Collection[int] = ()) -> None:
        for pid in self.pids():
            if pid not in spare:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL every process in the cgroup, frozen first so that none forks in the meantime."""
        if not self.exists or not self.pids():
            return
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.layout.version == 2 and kill_file.exists():
            _write(kill_file, "1")
            return
        with self._frozen():
            self.signal_all(signal.SIGKILL)

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        if self.layout.freezer is None:
            yield
            return
        directory = self.layout.freezer / PARENT / self.name
        if self.layout.version == 1:
            state, frozen, thawed, done = directory / "freezer.state", "FROZEN", "THAWED", "FROZEN"
        else:
            state, frozen, thawed, done = directory / "cgroup.freeze", "1", "0", "frozen 1"
        try:
            _write(state, frozen)
            probe = state if self.layout.version == 1 else directory / "cgroup.events"
            deadline = time.monotonic() + 1.0
            # Freezing is asynchronous, and a task stuck in the kernel can hold it at FREEZING: after
            # a second, kill anyway (remove() kills again whatever forked in between).
            while done not in probe.read_text() and time.monotonic() < deadline:
                time.sleep(0.005)
        except FileNotFoundError:
            pass
        try:
            yield
        finally:
            # Frozen tasks act on their SIGKILL only once thawed.
            with contextlib.suppress(FileNotFoundError):
                _write(state, thawed)

    def remove(self, timeout: float = 5.0) -> None:
        """Wait until the cgroup is empty (killing again what is left), then delete it."""
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
            if self.pids():
                self.kill()
        for directory in self.dirs:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    # EBUSY while the last exiting task is still being torn down.
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)


def kill_all(name: str) -> None:
    """Kill every process of the sandbox `name` and remove its cgroup (a leftover after a crash too)."""
    cgroup = SandboxCgroup(name)
    cgroup.kill()
    cgroup.remove()
