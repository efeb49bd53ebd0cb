"""Starting a preview: the project's start command on a free port, in its own process group, with its
output in `runtime.log`; started once it answers HTTP 2xx/3xx on that port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable

import httpx

from activities.context import WorkerContext
from activities.environment import app_env
from activities.local.preview import Preview
from activities.local.runtime_log import RuntimeLog
from activities.processes import kill_group, kill_recorded_group, lower_priority, split_command
from workflows.activity_io import DeploymentRef

HEALTH_TIMEOUT_SECONDS = 60

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
    ctx: WorkerContext,
    http: httpx.AsyncClient,
    ref: DeploymentRef,
    *,
    heartbeat: Heartbeat,
    stop_leftover: bool,
) -> Preview:
    """Start the deployment's start command and wait until it answers HTTP.

    `stop_leftover`: a worker that died mid-deploy may have left this deployment's process running;
    it is stopped first."""
    project = await ctx.project(ref.project_id)
    config = project.config()
    if not config.start_command:
        raise StartFailed("the project has no start command configured", [])
    source = ctx.workdirs.source(ref.deployment_id)
    secrets = await ctx.secrets(ref.project_id)
    if stop_leftover:
        kill_recorded_group(ctx.workdirs.pid_file(ref.deployment_id, "app"))
    port = free_port()
    env = app_env(settings=ctx.settings, config=config, secrets=secrets, ref=ref, home=source)
    env["PORT"] = str(port)
    log_path = ctx.workdirs.runtime_log(ref.deployment_id)
    argv = split_command(config.start_command)
    with open(log_path, "ab") as output:
        # A restarted preview appends to the file: its earlier output is already in the logs.
        already_copied = output.tell()
        try:
            process = subprocess.Popen(
                argv,
                cwd=source,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=lower_priority,
            )
        except FileNotFoundError:
            raise StartFailed(f"start command not found: {argv[0]}", []) from None
    ctx.workdirs.pid_file(ref.deployment_id, "app").write_text(str(process.pid))
    log = RuntimeLog(
        ctx.db, ref.deployment_id, log_path, secrets=list(secrets.values()), offset=already_copied
    )
    preview = Preview(ref.deployment_id, ref.app_name, process.pid, port, process, log)
    try:
        await _wait_healthy(preview, http, heartbeat)
    except BaseException:
        await asyncio.to_thread(kill_group, process.pid, grace=2.0)
        await preview.log.copy()
        raise
    return preview


async def _wait_healthy(preview: Preview, http: httpx.AsyncClient, heartbeat: Heartbeat) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    url = f"http://{preview.upstream}/"
    while time.monotonic() < deadline:
        await heartbeat()
        await preview.log.copy()
        if preview.process is not None and preview.process.poll() is not None:
            raise StartFailed(
                f"the start command exited with code {preview.process.returncode} before answering on $PORT",
                preview.log.tail(),
            )
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get(url)
            if response.status_code < 400:
                return
        await asyncio.sleep(0.1)
    raise StartFailed(
        f"no HTTP 2xx/3xx on $PORT ({preview.port}) within {HEALTH_TIMEOUT_SECONDS}s",
        preview.log.tail(),
    )
