"""A long-running server in a sandbox (what a preview needs): started, watched, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from activities.sandbox.binaries import HOST_ENV
from activities.sandbox.launch import Launch
from activities.sandbox.spec import SandboxSpec

# bwrap's --die-with-parent is the kernel's parent-death signal, which fires when the *thread* that
# forked bwrap ends. One thread that lives as long as previewd forks every server, so a server never
# dies with a short-lived caller thread (an executor's, a request's).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")

RELAY_CHUNK = 64 * 1024


class _Relay:
    """The server's output, carried from a pipe into `output` by a thread of previewd.

    The sandbox never holds the log file itself: a writable fd of a regular file lets its holder
    ftruncate it, e.g. to a terabyte of zeros that costs no disk, which previewd then reads back
    (runtime.log). A pipe can only be written to, in order."""

    def __init__(self, output: IO[bytes] | int) -> None:
        target = output if isinstance(output, int) else output.fileno()
        # Our own copy: the caller may close `output` as soon as the server started.
        self._target = os.dup(target)
        self._read, self.write_end = os.pipe()
        self._thread = threading.Thread(target=self._copy, name="sandbox-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            while chunk := os.read(self._read, RELAY_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._target, view) :]
        except OSError:
            pass
        finally:
            os.close(self._read)
            os.close(self._target)

    def started(self) -> None:
        """The child holds its copy of the write end: ours must go, or the copy never sees EOF."""
        if self.write_end >= 0:
            os.close(self.write_end)
            self.write_end = -1

    def join(self, timeout: float = 2.0) -> None:
        """Wait until all the server wrote is in `output` (its processes are gone: EOF comes)."""
        self.started()
        self._thread.join(timeout)


class SandboxServer:
    """A running sandbox. Call stop() when done, also after it exited on its own: that is what
    removes its cgroup and its slirp4netns."""

    def __init__(
        self, spec: SandboxSpec, launch: Launch, process: subprocess.Popen[bytes], relay: _Relay
    ) -> None:
        self.spec = spec
        self._launch = launch
        self._process = process
        self._relay = relay
        self._stopped = False

    @property
    def pid(self) -> int:
        """bwrap's pid on the host (the sandbox's processes are all in its cgroup)."""
        return self._process.pid

    def alive(self) -> bool:
        if self._process.poll() is None:
            return True
        # Gone: what it wrote last is in `output` before anyone reads it for the reason.
        self._relay.join()
        return False

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if still running after `timeout` seconds."""
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._relay.join()
        return code

    def oom_killed(self) -> bool:
        return self._launch.cgroup.oom_killed()

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the server and everything it started, SIGKILL what is left after `grace`
        seconds, remove the sandbox. Returns the exit code (None if it had to be killed)."""
        if self._stopped:
            return self._process.returncode
        self._stopped = True
        code: int | None = None
        try:
            if self.alive() and grace > 0:
                # Not bwrap itself nor its init: either dying would SIGKILL the rest at once, and
                # the server is to get its SIGTERM first.
                spare = {self._process.pid, self._launch.child_pid or -1}
                self._launch.cgroup.signal_all(signal.SIGTERM, spare=spare)
                code = self.wait(grace)
            self._launch.kill()
            self._process.wait()
        finally:
            self._launch.close()
            self._relay.join()
        return code


def start_server(spec: SandboxSpec, *, output: IO[bytes] | int) -> SandboxServer:
    """Start spec.argv in a sandbox, its stdout and stderr to `output` (a file previewd reads back:
    keep it outside the work dir, which the sandbox can write), through a pipe (see _Relay): the
    caller may close `output` once this returns. With spec.forward set, the server must listen on
    0.0.0.0 (or 10.0.2.100) inside, at forward.sandbox_port."""
    launch = Launch(spec)
    try:
        relay = _Relay(output)
    except BaseException:
        launch.close()
        raise
    try:
        process = _SPAWNER.submit(
            subprocess.Popen,
            launch.argv,
            # Not spec.env: that reaches the command only (see launch.py).
            env=HOST_ENV,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=relay.write_end,
            stderr=subprocess.STDOUT,
            pass_fds=launch.pass_fds,
            start_new_session=True,
        ).result()
    except BaseException:
        launch.close()
        relay.join()
        raise
    relay.started()
    try:
        launch.spawned(process.pid)
    except BaseException:
        launch.kill()
        process.wait()
        launch.close()
        relay.join()
        raise
    return SandboxServer(spec, launch, process, relay)
