"""Child processes in their own process group: started from an explicit argv, stopped as a group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# Toolchains come from the system: never previewd's virtualenv, never a pyenv under /root.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# The operator's CA settings, passed on when set: the package registries may be reachable only
# through a CA given this way. They name files under /etc/ssl or /usr, which a sandbox sees too.
CA_SETTINGS = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
)
# All a child process takes of the worker's environment: locale, zone, CA settings. No credentials,
# no DATABASE_URL, no TMPDIR or PATH into previewd's own directories.
INHERITED_ENV = ("LANG", "LC_ALL", "TZ", *CA_SETTINGS)


def base_env(home: Path, *, path: str = SYSTEM_PATH) -> dict[str, str]:
    """An environment built from nothing for a child of the worker (a clone, an unsandboxed build or
    preview, a builder CLI): INHERITED_ENV where set, then PATH, HOME and CI."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    return env | {"PATH": path, "HOME": str(home), "CI": "true"}


# Builds, clones and previews run below previewd's own priority, so a burst of them never starves the
# webhook path or the worker on a shared box.
CHILD_NICENESS = 10


def lower_priority() -> None:
    """preexec_fn for children: runs in the child between fork and exec."""
    os.nice(CHILD_NICENESS)


# The shell a project's command lines run in: POSIX sh, as Heroku, Render and the rest run them.
SHELL = "/bin/sh"


def shell_argv(command: str) -> list[str]:
    """A project's configured command line as argv: `/bin/sh -c <command>`, so `$PORT`, `&&` and
    pipes work as users write them. Only the project's own configured text is ever a command line;
    anything of the PR (title, branch, author) reaches the command as environment variables, which
    the shell expands as values and never parses as code."""
    return [SHELL, "-c", command]


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pid: int, *, grace: float = 5.0) -> None:
    """SIGTERM the process group led by pid, then SIGKILL what is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not group_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def kill_recorded_group(pid_file: Path) -> None:
    """Stop a group recorded by an earlier attempt (a worker that died mid-build leaves one)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    kill_group(pid, grace=2.0)
    pid_file.unlink(missing_ok=True)


class CommandTimedOut(Exception):
    pass


async def wait_until(
    process: asyncio.subprocess.Process,
    deadline: float,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """The process's exit code, heartbeating every 2 s while it runs; CommandTimedOut past `deadline`
    (time.monotonic()). Stopping the process is the caller's: it knows what else it started."""
    exit_task = asyncio.create_task(process.wait())
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimedOut()
            done, _ = await asyncio.wait({exit_task}, timeout=min(remaining, 2.0))
            if heartbeat is not None:
                await heartbeat()
            if done:
                return exit_task.result()
    finally:
        exit_task.cancel()


async def run_streaming(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    on_line: Callable[[str], None],
    deadline: float,
    pid_file: Path,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Run argv, feeding each output line to on_line; return its exit code.

    Raises CommandTimedOut past `deadline` (time.monotonic()). On cancellation the whole process
    group is killed before the CancelledError goes on.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lower_priority,
    )
    pid_file.write_text(str(process.pid))
    assert process.stdout is not None

    async def pump() -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                return
            on_line(line.decode(errors="replace").rstrip("\n"))

    pump_task = asyncio.create_task(pump())
    try:
        code = await wait_until(process, deadline, heartbeat)
        # The command exited; its last lines may still be in the pipe (or held open by a child it
        # left behind, which must not hold the build up).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pump_task), 2.0)
        pump_task.cancel()
        # Whatever the command started in the background (a daemon from a postinstall script, a
        # watcher) goes with it: a finished step leaves nothing running.
        await asyncio.to_thread(kill_group, process.pid, grace=1.0)
        return code
    except BaseException:
        await asyncio.to_thread(kill_group, process.pid, grace=2.0)
        pump_task.cancel()
        raise
    finally:
        pid_file.unlink(missing_ok=True)
