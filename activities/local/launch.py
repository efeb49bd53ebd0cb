"""Starting a preview: the project's start command line (`/bin/sh -c`), with its output in
`runtime.log`; started once it answers HTTP 2xx/3xx.

Sandboxed, it runs in a sandbox of its own (activities/sandbox) listening on the project's `port` on
0.0.0.0 inside, forwarded from 127.0.0.1:<a free port> on this host, which the proxy's route names.
Unsandboxed, it runs in its own process group on a free port of this host."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from activities.context import WorkerContext
from activities.environment import step_env
from activities.health_probe import answers
from activities.local.preview import Preview, ProcessGroup, Running
from activities.local.runtime_log import RuntimeLog
from activities.local.runtime_output import RuntimeOutput
from activities.local.sandboxing import INNER_HOME, INNER_WORK_DIR, limits, sandbox_name
from activities.processes import lower_priority, shell_argv
from activities.sandbox import Network, PortForward, SandboxFailed, SandboxSpec, start_server
from activities.toolchain import AppDirectory, Toolchain
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef

MB = 1 << 20

Heartbeat = Callable[[], Awaitable[None]]


class StartFailed(Exception):
    def __init__(self, message: str, tail: list[str]) -> None:
        super().__init__(message)
        self.tail = tail


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def launch(
    ctx: WorkerContext, http: httpx.AsyncClient, ref: DeploymentRef, *, heartbeat: Heartbeat
) -> Preview:
    """Start the deployment's start command and wait until it answers HTTP. Whatever ran under this
    deployment before (an earlier attempt, a dead process) was stopped by the caller."""
    project = await ctx.project(ref.project_id)
    config = await ctx.deployment_config(project, ref.deployment_id)
    if not config.start_command:
        raise StartFailed("the project has no start command configured", [])
    secrets = await ctx.secrets(ref.project_id, ref.pr_number)
    source = ctx.workdirs.source(ref.deployment_id)
    sandboxed = ctx.sandbox.sandboxed
    # Sandboxed, the app has the port it asked for (nothing else is in its network namespace) and
    # the host reaches it on a free port; unsandboxed, it listens on that free port of the host.
    port = free_port()
    try:
        app = AppDirectory.of(source, config.root_directory, sandboxed=sandboxed)
    except ValueError as error:
        raise StartFailed(str(error), []) from None
    env = step_env(
        settings=ctx.settings, config=config, secrets=secrets, ref=ref,
        pr=await ctx.pull_request(ref.deployment_id), toolchain=Toolchain.detect(app.host), source=source,
        app_root=app.seen, port=config.port if sandboxed else port, sandboxed=sandboxed,
    )  # fmt: skip
    argv = shell_argv(config.start_command)
    log_path = ctx.workdirs.runtime_log(ref.deployment_id)
    # Its output goes through a pipe into runtime.log (rotated: activities/local/runtime_output.py).
    # A restarted preview appends to the file: its earlier output is already in the logs.
    output = RuntimeOutput(log_path, max_bytes=ctx.settings.previewd_runtime_log_file_mb * MB)
    already_copied = log_path.stat().st_size
    try:
        if sandboxed:
            running = await _start_sandboxed(ctx, ref, config, env, argv, port, output.write_end)
        else:
            running = _start_plain(app.host, env, argv, output.write_end)
    except BaseException:
        await asyncio.to_thread(output.close)
        raise
    if not sandboxed:
        # How a later worker finds it (a sandbox is found by its name instead).
        ctx.workdirs.pid_file(ref.deployment_id, "app").write_text(str(running.pid))
    log = RuntimeLog(
        ctx.db, ref.deployment_id, log_path, secrets=list(secrets.values()), offset=already_copied,
        output=output, max_lines=ctx.settings.previewd_max_runtime_log_lines,
        max_file_bytes=ctx.settings.previewd_runtime_log_file_mb * MB,
    )  # fmt: skip
    preview = Preview(ref.deployment_id, ref.app_name, port, running, log)
    try:
        await _wait_healthy(
            preview,
            http,
            heartbeat,
            path=config.health_check_path,
            timeout=config.health_check_timeout_seconds,
        )
    except BaseException:
        await asyncio.to_thread(running.stop, 2.0)
        await asyncio.to_thread(log.close)
        await preview.log.copy()
        raise
    return preview


async def _start_sandboxed(
    ctx: WorkerContext,
    ref: DeploymentRef,
    config: DeploymentConfig,
    env: dict[str, str],
    argv: list[str],
    port: int,
    output: int,
) -> Running:
    spec = SandboxSpec(
        name=sandbox_name(ref.deployment_id, "app"),
        argv=argv,
        work_dir=ctx.workdirs.source(ref.deployment_id),
        env=env,
        inner_work_dir=INNER_WORK_DIR,
        home=INNER_HOME,
        limits=limits(ctx.settings, config, memory_mb=config.preview_memory_mb),
        network=Network.INTERNET,
        forward=PortForward(host_port=port, sandbox_port=config.port),
        subdir=config.root_directory or "",
        read_only=ctx.preview_postgres.sandbox_binds(env),
    )
    # Blocking: bwrap is started and its network wired up before this returns. Shielded: a cancelled
    # deploy must not leave a server that the thread goes on to start, and nobody would stop.
    starting = asyncio.ensure_future(asyncio.to_thread(start_server, spec, output=output))
    try:
        return await asyncio.shield(starting)
    except SandboxFailed as error:
        raise StartFailed(f"the preview's sandbox could not be set up: {error}", []) from None
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            server = await starting
            await asyncio.to_thread(server.stop, 0)
        raise


def _start_plain(cwd: Path, env: dict[str, str], argv: list[str], output: int) -> Running:
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lower_priority,
        )
    except FileNotFoundError:
        raise StartFailed(f"start command could not run: {argv[0]} not found", []) from None
    return ProcessGroup(process.pid, process)


def exit_reason(preview: Preview) -> str:
    """Why a preview's process is gone, in a log line's words."""
    code = preview.running.wait(0)
    if preview.running.oom_killed():
        return "the preview ran out of memory (preview_memory_mb) and was killed"
    return f"the start command exited with code {code}"


async def _wait_healthy(
    preview: Preview, http: httpx.AsyncClient, heartbeat: Heartbeat, *, path: str, timeout: int
) -> None:
    """Until the health check path answers 2xx/3xx (DeploymentConfig.health_check_path, validated as a
    path of this server: the URL below stays on the preview's address)."""
    deadline = time.monotonic() + timeout
    url = f"http://{preview.upstream}{path}"
    while time.monotonic() < deadline:
        await heartbeat()
        await preview.log.copy()
        if not preview.alive():
            raise StartFailed(f"{exit_reason(preview)} before answering on $PORT", preview.log.tail())
        if await answers(http, url):
            return
        await asyncio.sleep(0.1)
    raise StartFailed(
        f"no HTTP 2xx/3xx from {path} on $PORT within {timeout}s (the app must listen on 0.0.0.0)",
        preview.log.tail(),
    )
