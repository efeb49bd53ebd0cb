"""The preview processes of this host: started, health-checked, watched, restarted, stopped.

Each preview runs in its own process group with its output in `runtime.log` beside its sources;
this runtime copies that file into the deployment's `runtime` logs. A process that dies is started
again (with backoff). When the worker stops cleanly it stops its previews, and the next worker on this
host brings back every preview the routes table says should be live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from activities.context import WorkerContext
from activities.environment import app_env
from activities.logsink import Masker
from activities.processes import group_alive, kill_group, kill_recorded_group, lower_priority, split_command
from models import Deployment, DeploymentLog, LogLevel, LogType, PreviewRoute
from models.queries import lock_log_order
from workflows.activity_io import DeploymentRef

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 60
WATCH_INTERVAL_SECONDS = 0.5
MAX_RESTART_BACKOFF_SECONDS = 60


class StartFailed(Exception):
    def __init__(self, message: str, tail: list[str]) -> None:
        super().__init__(message)
        self.tail = tail


@dataclass
class Preview:
    deployment_id: str
    app_name: str
    pid: int
    port: int
    process: subprocess.Popen[bytes] | None
    mask: Masker
    log_offset: int = 0
    restarts: int = 0
    next_restart_at: float = 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalRuntime:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.previews: dict[str, Preview] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=2.0)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bring back what should be live on this host, then watch it."""
        async with self.ctx.db.session() as session:
            routes = (
                await session.exec(select(PreviewRoute).where(PreviewRoute.host_queue == self.ctx.host_queue))
            ).all()
        for route in routes:
            deployment_id = str(route.deployment_id)
            port = int(route.upstream.rsplit(":", 1)[1])
            log_file = self.ctx.workdirs.runtime_log(deployment_id)
            offset = log_file.stat().st_size if log_file.exists() else 0
            mask = await self._masker_for(deployment_id)
            preview = Preview(
                deployment_id, route.app_name, route.pid or 0, port, None, mask, log_offset=offset
            )
            self.previews[deployment_id] = preview
            if not (route.pid and group_alive(route.pid)):
                await self._restart(preview, reason="previewd restarted and the preview was not running")
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(asyncio.to_thread(kill_group, p.pid) for p in self.previews.values()))
        await self._copy_logs()
        await self._http.aclose()

    async def _masker_for(self, deployment_id: str) -> Masker:
        async with self.ctx.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(deployment_id))
        if deployment is None:
            return Masker()
        return Masker(list((await self.ctx.secrets(str(deployment.project_id))).values()))

    # -- one preview --------------------------------------------------------------------------

    async def launch(self, ref: DeploymentRef, heartbeat: Callable[[], Awaitable[None]]) -> Preview:
        """Start the deployment's start command on a free port and wait until it answers HTTP."""
        project = await self.ctx.project(ref.project_id)
        config = project.config()
        if not config.start_command:
            raise StartFailed("the project has no start command configured", [])
        source = self.ctx.workdirs.source(ref.deployment_id)
        secrets = await self.ctx.secrets(ref.project_id)
        if ref.deployment_id not in self.previews:
            # A worker that died mid-deploy left this deployment's process running: stop it first.
            kill_recorded_group(self.ctx.workdirs.pid_file(ref.deployment_id, "app"))
        port = free_port()
        env = app_env(settings=self.ctx.settings, config=config, secrets=secrets, ref=ref, home=source)
        env["PORT"] = str(port)
        log_path = self.ctx.workdirs.runtime_log(ref.deployment_id)
        with open(log_path, "ab") as output:
            try:
                process = subprocess.Popen(
                    split_command(config.start_command),
                    cwd=source,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=lower_priority,
                )
            except FileNotFoundError:
                raise StartFailed(
                    f"start command not found: {split_command(config.start_command)[0]}", []
                ) from None
        self.ctx.workdirs.pid_file(ref.deployment_id, "app").write_text(str(process.pid))
        preview = Preview(
            ref.deployment_id, ref.app_name, process.pid, port, process, Masker(list(secrets.values()))
        )
        try:
            await self._wait_healthy(preview, heartbeat)
        except BaseException:
            await asyncio.to_thread(kill_group, process.pid, grace=2.0)
            await self._copy_logs_of(preview)
            raise
        self.previews[ref.deployment_id] = preview
        return preview

    async def _wait_healthy(self, preview: Preview, heartbeat: Callable[[], Awaitable[None]]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        url = f"http://127.0.0.1:{preview.port}/"
        while time.monotonic() < deadline:
            await heartbeat()
            await self._copy_logs_of(preview)
            if preview.process is not None and preview.process.poll() is not None:
                raise StartFailed(
                    f"the start command exited with code {preview.process.returncode} "
                    "before answering on $PORT",
                    self._tail(preview.deployment_id),
                )
            with contextlib.suppress(httpx.HTTPError):
                response = await self._http.get(url)
                if response.status_code < 400:
                    return
            await asyncio.sleep(0.1)
        raise StartFailed(
            f"no HTTP 2xx/3xx on $PORT ({preview.port}) within {HEALTH_TIMEOUT_SECONDS}s",
            self._tail(preview.deployment_id),
        )

    def _tail(self, deployment_id: str, lines: int = 20) -> list[str]:
        try:
            text = self.ctx.workdirs.runtime_log(deployment_id).read_text(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]

    async def route(self, preview: Preview) -> None:
        """Point the proxy at this preview: from here on it serves the app's traffic."""
        values: dict[str, Any] = {
            "app_name": preview.app_name,
            "deployment_id": uuid.UUID(preview.deployment_id),
            "upstream": f"127.0.0.1:{preview.port}",
            "host_queue": self.ctx.host_queue,
            "pid": preview.pid,
            "updated_at": datetime.now(UTC),
        }
        stmt = (
            pg_insert(PreviewRoute)
            .values(**values)
            .on_conflict_do_update(index_elements=["app_name"], set_=values)
        )
        async with self.ctx.db.session() as session:
            await session.execute(stmt)
            await session.commit()

    async def _reroute(self, preview: Preview) -> bool:
        """Point the route at a restarted process, only if the route still belongs to its deployment."""
        async with self.ctx.db.session() as session:
            result = await session.execute(
                update(PreviewRoute)
                .where(col(PreviewRoute.app_name) == preview.app_name)
                .where(col(PreviewRoute.deployment_id) == uuid.UUID(preview.deployment_id))
                .values(upstream=f"127.0.0.1:{preview.port}", pid=preview.pid, updated_at=datetime.now(UTC))
            )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))

    async def retire(self, deployment_id: str) -> None:
        """Stop a deployment's processes and remove its files, unless the proxy still points at it."""
        async with self.ctx.db.session() as session:
            routed = (
                await session.exec(
                    select(PreviewRoute).where(PreviewRoute.deployment_id == uuid.UUID(deployment_id))
                )
            ).first()
        if routed is not None:
            return
        await self._stop(deployment_id)

    async def destroy(self, app_name: str, deployment_ids: list[str]) -> None:
        async with self.ctx.db.session() as session:
            route = await session.get(PreviewRoute, app_name)
            if route is not None:
                deployment_ids = [*deployment_ids, str(route.deployment_id)]
                await session.delete(route)
                await session.commit()
        for deployment_id in dict.fromkeys(deployment_ids):
            await self._stop(deployment_id)

    async def _stop(self, deployment_id: str) -> None:
        preview = self.previews.pop(deployment_id, None)
        pid_file = self.ctx.workdirs.pid_file(deployment_id, "app")
        pids = {preview.pid} if preview else set()
        with contextlib.suppress(FileNotFoundError, ValueError):
            pids.add(int(pid_file.read_text().strip()))
        for pid in pids:
            await asyncio.to_thread(kill_group, pid)
        if preview is not None:
            await self._copy_logs_of(preview)
        await asyncio.to_thread(self.ctx.workdirs.remove, deployment_id)

    # -- watching -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            try:
                await self._copy_logs()
                for preview in list(self.previews.values()):
                    if self._alive(preview):
                        continue
                    if time.monotonic() >= preview.next_restart_at:
                        await self._restart(preview, reason="the preview process exited")
            except Exception:  # keep watching whatever one round hit
                log.exception("preview watcher round failed")

    def _alive(self, preview: Preview) -> bool:
        if preview.process is not None:
            return preview.process.poll() is None
        return group_alive(preview.pid)

    async def _restart(self, preview: Preview, *, reason: str) -> None:
        async with self.ctx.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(preview.deployment_id))
        if deployment is None or not self.ctx.workdirs.source(preview.deployment_id).exists():
            self.previews.pop(preview.deployment_id, None)
            return
        await self._write_runtime(preview.deployment_id, [f"{reason}; starting it again"], LogLevel.WARNING)
        ref = DeploymentRef(
            deployment_id=preview.deployment_id,
            project_id=str(deployment.project_id),
            pr_number=deployment.pr_number,
            commit_sha=deployment.commit_sha,
            app_name=deployment.app_name,
        )
        try:
            fresh = await self.launch(ref, _no_heartbeat)
        except Exception as error:  # any failure: log it and back off
            preview.restarts += 1
            preview.next_restart_at = time.monotonic() + min(MAX_RESTART_BACKOFF_SECONDS, 2**preview.restarts)
            self.previews[preview.deployment_id] = preview
            await self._write_runtime(preview.deployment_id, [f"restart failed: {error}"], LogLevel.ERROR)
            return
        fresh.restarts = preview.restarts
        if not await self._reroute(fresh):
            # While it restarted, a newer deployment took the route (or the PR was destroyed): this
            # process must not serve anything.
            await self._stop(fresh.deployment_id)

    async def _copy_logs(self) -> None:
        for preview in list(self.previews.values()):
            await self._copy_logs_of(preview)

    async def _copy_logs_of(self, preview: Preview) -> None:
        path = self.ctx.workdirs.runtime_log(preview.deployment_id)
        try:
            with open(path, "rb") as handle:
                handle.seek(preview.log_offset)
                chunk = handle.read(1 << 20)
        except FileNotFoundError:
            return
        # Only whole lines; a partial last line waits for its newline.
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        preview.log_offset += end + 1
        lines = chunk[:end].decode(errors="replace").split("\n")
        await self._write_runtime(preview.deployment_id, lines, LogLevel.INFO, preview.mask)

    async def _write_runtime(
        self, deployment_id: str, lines: list[str], level: LogLevel, mask: Masker | None = None
    ) -> None:
        """Runtime output, with the project's secret values masked like build output is."""
        now = datetime.now(UTC)
        if mask is not None:
            lines = [mask(line) for line in lines]
        rows = [
            {
                "deployment_id": uuid.UUID(deployment_id),
                "type": LogType.RUNTIME,
                "level": level,
                "message": line[:8000],
                "timestamp": now,
            }
            for line in lines
        ]
        async with self.ctx.db.session() as session:
            await lock_log_order(session, [uuid.UUID(deployment_id)])
            await session.execute(insert(DeploymentLog), rows)
            await session.commit()


async def _no_heartbeat() -> None:
    return None
