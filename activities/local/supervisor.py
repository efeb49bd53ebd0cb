"""The preview processes of this host: started, watched, restarted, stopped.

A process that dies is started again (with backoff). When the worker stops cleanly it stops its
previews, and the next worker on this host brings back every preview the route table says should be
live here. Sandboxed previews die with their worker, so they are all started again (after what is
left of their sandboxes is cleared); an unsandboxed one that still runs (the worker was SIGKILLed)
is adopted, not started twice. Under `previewd up` none is left to adopt: `up` is a subreaper and ends
what its dead worker left (runtime/orphans.py), so every preview is started again here. An adopted
process's output went into its dead worker's pipe (activities/local/runtime_output.py): its next
write ends it (SIGPIPE), and it is started again like any preview that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import httpx

from activities.context import WorkerContext
from activities.local.launch import Heartbeat, exit_reason, launch
from activities.local.preview import NotRunning, Preview, ProcessGroup, Running
from activities.local.routes import Routes
from activities.local.runtime_log import RuntimeLog
from activities.local.sandboxing import kill_leftover
from activities.processes import group_alive, kill_recorded_group
from models import Deployment, LogLevel
from workflows.activity_io import DeploymentRef

log = logging.getLogger(__name__)

WATCH_INTERVAL_SECONDS = 0.5
MAX_RESTART_BACKOFF_SECONDS = 60


class LocalRuntime:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.routes = Routes(ctx.db, ctx.host_queue)
        self.previews: dict[str, Preview] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=2.0)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bring back what should be live on this host, then watch it."""
        for route in await self.routes.of_this_host():
            if route.asleep:
                continue  # asleep until its next request: not started because the worker was
            deployment_id = str(route.deployment_id)
            port = int(route.upstream.rsplit(":", 1)[1])
            path = self.ctx.workdirs.runtime_log(deployment_id)
            # What the process wrote before this worker started was copied by the one before it.
            offset = path.stat().st_size if path.exists() else 0
            secrets = await self._secrets_of(deployment_id)
            runtime_log = RuntimeLog(
                self.ctx.db, deployment_id, path, secrets=secrets, offset=offset,
                max_lines=self.ctx.settings.previewd_max_runtime_log_lines,
            )  # fmt: skip
            # A sandbox dies with the worker that started it (bwrap's --die-with-parent), so there is
            # nothing to adopt: it is started again. An unsandboxed process outlives a SIGKILLed
            # worker in its own process group and is adopted, not started twice.
            running: Running = NotRunning()
            if not self.ctx.sandbox.sandboxed and route.pid and group_alive(route.pid):
                running = ProcessGroup(route.pid, None)
            preview = Preview(deployment_id, route.app_name, port, running, runtime_log)
            self.previews[deployment_id] = preview
            if not preview.alive():
                await self._restart(preview, reason="previewd restarted and the preview was not running")
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(asyncio.to_thread(p.running.stop) for p in self.previews.values()))
        await asyncio.gather(*(asyncio.to_thread(p.log.close) for p in self.previews.values()))
        # Their last lines, each on its own: what one preview's output hits keeps none of the others'.
        await asyncio.gather(*(p.log.copy() for p in self.previews.values()), return_exceptions=True)
        await self._http.aclose()

    async def _secrets_of(self, deployment_id: str) -> list[str]:
        async with self.ctx.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(deployment_id))
        if deployment is None:
            return []
        return list((await self.ctx.secrets(str(deployment.project_id), deployment.pr_number)).values())

    # -- one preview --------------------------------------------------------------------------

    async def launch(self, ref: DeploymentRef, heartbeat: Heartbeat) -> Preview:
        """Start the deployment's preview and watch it from then on (it is not routed yet). What ran
        for this deployment before (a dead process, an earlier attempt's, a crashed worker's) is
        stopped first: one sandbox name, one process, per deployment."""
        old = self.previews.pop(ref.deployment_id, None)
        if old is not None:
            await asyncio.to_thread(old.running.stop, 2.0)
            await asyncio.to_thread(old.log.close)
        await asyncio.to_thread(self._clear_leftover, ref.deployment_id)
        preview = await launch(self.ctx, self._http, ref, heartbeat=heartbeat)
        self.previews[ref.deployment_id] = preview
        return preview

    async def sleep(self, deployment_id: str) -> bool:
        """Stop the deployment's preview but keep its files and route (marked asleep first, so the
        proxy never forwards to a stopped process). False when it no longer serves its route."""
        if not await self.routes.fall_asleep(deployment_id):
            return False
        # As when a preview stops for good: its output pipe, copying thread and log file go with it
        # (a wake opens new ones). Kept, each sleeping preview held a thread and three descriptors,
        # and a worker past 1,024 of them could start no sandbox (select()).
        preview = await self._stop_processes(deployment_id)
        if preview is not None:
            await preview.log.note("asleep until its next request, which wakes it", LogLevel.INFO)
        return True

    async def wake(self, ref: DeploymentRef, heartbeat: Heartbeat) -> bool:
        """Start a sleeping deployment's preview from its kept files (the path a worker restart takes)
        and route its traffic to it. False when its route went to another deployment meanwhile."""
        preview = self.previews.get(ref.deployment_id)
        if preview is None or not preview.alive():
            preview = await self.launch(ref, heartbeat)
        if await self.routes.wake(preview):
            return True
        await self._stop(ref.deployment_id)
        return False

    def _clear_leftover(self, deployment_id: str) -> None:
        """Blocking: kill what a worker before this one left of the deployment's preview."""
        if self.ctx.sandbox.sandboxed:
            kill_leftover(deployment_id, "app")
        else:
            kill_recorded_group(self.ctx.workdirs.pid_file(deployment_id, "app"))

    async def retire(self, deployment_id: str) -> None:
        """Stop a deployment's processes and remove its files, unless the proxy still points at it."""
        if await self.routes.serves(deployment_id):
            return
        await self._stop(deployment_id)

    async def destroy(self, app_name: str, deployment_ids: list[str]) -> None:
        routed = await self.routes.remove(app_name)
        if routed is not None:
            deployment_ids = [*deployment_ids, routed]
        for deployment_id in dict.fromkeys(deployment_ids):
            await self._stop(deployment_id)

    async def _stop(self, deployment_id: str) -> None:
        await self._stop_processes(deployment_id)
        await asyncio.to_thread(self.ctx.workdirs.remove, deployment_id)

    async def _stop_processes(self, deployment_id: str) -> Preview | None:
        """Stop the deployment's preview and whatever an earlier worker left of it, and close its output
        (the last lines copied); its files stay. The preview that was running, if this worker had one."""
        preview = self.previews.pop(deployment_id, None)
        if preview is not None:
            await asyncio.to_thread(preview.running.stop)
        await asyncio.to_thread(self._clear_leftover, deployment_id)
        if preview is not None:
            await asyncio.to_thread(preview.log.close)
            await preview.log.copy()
        return preview

    # -- watching -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            # Each preview on its own: what one preview's output or restart hits (its output is the
            # PR's, whatever it is) must not keep the others' logs or restarts from happening.
            for preview in list(self.previews.values()):
                try:
                    await preview.log.copy()
                    if not preview.alive() and time.monotonic() >= preview.next_restart_at:
                        await self._restart(preview, reason=exit_reason(preview))
                except Exception:  # keep watching whatever one preview hit
                    log.exception("watching the preview of deployment %s failed", preview.deployment_id)

    async def _restart(self, preview: Preview, *, reason: str) -> None:
        async with self.ctx.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(preview.deployment_id))
        if deployment is None or not self.ctx.workdirs.source(preview.deployment_id).exists():
            self.previews.pop(preview.deployment_id, None)
            return
        await preview.log.note(f"{reason}; starting it again", LogLevel.WARNING)
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
            await preview.log.note(f"restart failed: {error}", LogLevel.ERROR)
            return
        fresh.restarts = preview.restarts
        if not await self.routes.repoint(fresh):
            # While it restarted, the preview fell asleep (its files stay, for the wake), or a newer
            # deployment took the route or the PR was destroyed: this process must not serve anything.
            if await self.routes.serves(fresh.deployment_id):
                await self._stop_processes(fresh.deployment_id)
            else:
                await self._stop(fresh.deployment_id)


async def _no_heartbeat() -> None:
    return None
