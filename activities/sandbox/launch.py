"""Starting one sandbox: the bwrap command line, the cgroup it joins, its network, and tearing it all
down again. run.py (builds) and server.py (previews) drive it around their own subprocess.

The order matters and is why bwrap is held at `--block-fd` until the host side is ready:
1. the cgroup exists with its limits; a small shell joins it and execs bwrap (see _JOIN), so
   nothing the sandbox forks ever runs outside the limits;
2. bwrap sets up the namespaces and reports the namespace's first pid on `--info-fd`;
3. from the host: routes that close the host's addresses, slirp4netns for outbound traffic and the
   port forward, all into that pid's network namespace;
4. one byte on the block fd lets bwrap exec setpriv, which drops to uid 65534 with no capabilities
   left, then a shell loads spec.env and execs the command.

spec.env reaches only that last shell, through a file in the sandbox: every program before it (the
cgroup shell, bwrap, setpriv) runs as root with a fixed environment. Given to them, a project's
LD_PRELOAD naming a file of the checkout would run PR code as root on the host. And no secret is
ever a command-line argument, which every user of the host can read in /proc.

Everything in the sandbox runs under a seccomp filter (seccomp.py): no kernel keyrings, no user
namespaces of its own, none of a few risky kernel interfaces. bwrap reads it from a pipe like the
other data it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from activities.sandbox.binaries import MissingProgram, require
from activities.sandbox.cgroup import SandboxCgroup
from activities.sandbox.fd_wait import readable_within
from activities.sandbox.mounts import filesystem_args
from activities.sandbox.network import (
    Slirp,
    SlirpFailed,
    deny_routes,
    host_addresses,
    set_routes,
    wait_for_loopback,
)
from activities.sandbox.seccomp import SeccompUnavailable, sandbox_filter
from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID, Network, SandboxSpec

# Builds and previews run below previewd's own priority (as activities.processes does unsandboxed).
CHILD_NICENESS = 10

# Drop from root to the sandbox uid for good: no groups, no capabilities in any set, and no way back
# up through a setuid binary (no_new_privs).
DROP_PRIVILEGES = [
    "/usr/bin/setpriv",
    f"--reuid={SANDBOX_UID}",
    f"--regid={SANDBOX_GID}",
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--",
]

# What setpriv needs and nothing more, between bwrap's setup and the drop.
_KEPT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")

# Inside the sandbox, as uid 65534: load spec.env, then become the command.
ENV_FILE = "/run/previewd/env"
LOAD_ENV = ["/bin/sh", "-c", f'. {ENV_FILE} && exec "$@"', "previewd-env"]


def env_script(env: Mapping[str, str]) -> bytes:
    """spec.env as shell assignments (names were checked by SandboxSpec, values are quoted)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()).encode()


class SandboxFailed(Exception):
    """The sandbox could not be set up (not: the command failed)."""


def _data_fd(opened: list[int]) -> Callable[[bytes], int]:
    def make(content: bytes) -> int:
        read_end, write_end = os.pipe()
        # Small files: they fit the pipe's buffer, so writing all before bwrap reads cannot block.
        os.write(write_end, content)
        os.close(write_end)
        opened.append(read_end)
        return read_end

    return make


# Joins the cgroup, then becomes bwrap: "0" written to cgroup.procs moves the writing process, and
# exec keeps it, so bwrap and all it forks start inside the limits. A shell rather than a preexec_fn:
# previewd's worker has threads, where a preexec_fn may deadlock (and it forces a slow fork).
_JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo 0 > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


class Launch:
    """The host side of one sandbox, from before its process exists until after it is gone."""

    def __init__(self, spec: SandboxSpec) -> None:
        for directory in (spec.work_dir, spec.cache_dir):
            if directory is not None and not directory.is_dir():
                raise SandboxFailed(f"{directory} is not a directory")
        self.spec = spec
        self.cgroup = SandboxCgroup(spec.name)
        self.slirp: Slirp | None = None
        # The sandbox's PID 1 (bwrap's init inside the new PID namespace), as the host sees it.
        self.child_pid: int | None = None
        self._fds: list[int] = []
        self._info_read = -1
        self._block_write = -1
        self._socket_dir: Path | None = None
        self.argv: list[str] = []
        self.cgroup.create(spec.limits)
        try:
            self.argv = self._bwrap_argv()
        except BaseException:
            self.close()
            raise

    def _bwrap_argv(self) -> list[str]:
        spec = self.spec
        self._info_read, info_write = os.pipe()
        block_read, self._block_write = os.pipe()
        self._fds += [info_write, block_read]
        try:
            bwrap = require("bwrap")
            seccomp_program = sandbox_filter()
        except (MissingProgram, SeccompUnavailable) as error:
            raise SandboxFailed(str(error)) from error
        argv = [
            bwrap,
            # The processes inside start with nothing; LOAD_ENV sets spec.env (bwrap adds PWD).
            "--clearenv",
            "--die-with-parent",
            # setsid inside: the command gets no controlling terminal to push input into.
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "preview",
            "--cap-drop",
            "ALL",
        ]
        for cap in _KEPT_CAPS:
            argv += ["--cap-add", cap]
        argv += ["--info-fd", str(info_write), "--block-fd", str(block_read)]
        data_fd = _data_fd(self._fds)
        # Loaded by bwrap right before it execs setpriv: the setup above is done by then.
        argv += ["--seccomp", str(data_fd(seccomp_program))]
        argv += filesystem_args(spec, data_fd)
        argv += ["--perms", "0444", "--ro-bind-data", str(data_fd(env_script(spec.env))), ENV_FILE]
        argv += ["--", *DROP_PRIVILEGES, *LOAD_ENV, *spec.argv]
        join = self.cgroup.join_files()
        return ["/bin/sh", "-c", _JOIN, "join-cgroup", str(len(join)), *join, *argv]

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return tuple(self._fds)

    def spawned(self, pid: int, timeout: float = 10.0) -> None:
        """After `argv` was started as `pid`: wire up the host side, then let the command run."""
        # The child holds its copies now; ours must go, or bwrap's errors would never show as EOF.
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self.child_pid = self._child_pid(timeout)
        # Below previewd's own priority, as unsandboxed children are: set before the command is
        # forked from the sandbox's init, so everything in the sandbox inherits it.
        for process in (pid, self.child_pid):
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, process, CHILD_NICENESS)
        if self.spec.network is Network.INTERNET:
            self._connect(self.child_pid)
        try:
            os.write(self._block_write, b"1")
        except BrokenPipeError as error:
            raise SandboxFailed("bwrap exited while setting up the sandbox (see its output)") from error
        finally:
            os.close(self._block_write)
            self._block_write = -1

    def _child_pid(self, timeout: float) -> int:
        text = b""
        try:
            while True:
                if not readable_within(self._info_read, timeout):
                    raise SandboxFailed("bwrap did not report its child in time")
                chunk = os.read(self._info_read, 4096)
                if not chunk:
                    break
                text += chunk
        finally:
            os.close(self._info_read)
            self._info_read = -1
        try:
            return int(json.loads(text)["child-pid"])
        except (ValueError, KeyError) as error:
            raise SandboxFailed("bwrap exited before starting the sandbox (see its output)") from error

    def _connect(self, child_pid: int) -> None:
        try:
            wait_for_loopback(child_pid)
            set_routes(child_pid, deny_routes(host_addresses()))
        except (TimeoutError, OSError, subprocess.SubprocessError, MissingProgram) as error:
            raise SandboxFailed(f"the sandbox's network could not be set up: {error}") from error
        try:
            self._outbound(child_pid)
        except (OSError, SlirpFailed, MissingProgram) as error:
            raise SandboxFailed(f"slirp4netns: {error}") from error

    def _outbound(self, child_pid: int) -> None:
        api_socket = None
        if self.spec.forward is not None:
            # Somewhere the sandbox never sees (its /tmp is its own tmpfs), short enough for AF_UNIX.
            self._socket_dir = Path(tempfile.mkdtemp(prefix="previewd-slirp-"))
            api_socket = self._socket_dir / "api.sock"
        self.slirp = Slirp(child_pid, api_socket)
        self.slirp.wait_ready()
        if self.spec.forward is not None:
            self.slirp.forward(self.spec.forward)

    def kill(self) -> None:
        """SIGKILL every process of the sandbox (bwrap itself included)."""
        self.cgroup.kill()

    def close(self) -> None:
        """Everything of the sandbox gone: its processes, its cgroup, slirp4netns, the fds."""
        for fd in [*self._fds, self._info_read, self._block_write]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds, self._info_read, self._block_write = [], -1, -1
        try:
            self.cgroup.kill()
            self.cgroup.remove()
        finally:
            if self.slirp is not None:
                self.slirp.stop()
                self.slirp = None
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                self._socket_dir = None
