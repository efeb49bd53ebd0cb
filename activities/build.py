"""The `build` activity: the steps the platform's builder plans (`activities/builders.py`) run one by
one in the deployment's sources, within the build's time limit, output streamed to its logs. A step
with a sandbox runs in it (activities/sandbox); any other runs on this host in its own process group."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import sandbox
from activities.builders import Builder, Step
from activities.context import WorkerContext, heartbeat
from activities.logsink import LogSink
from activities.preview_db import seed_command
from activities.processes import CommandTimedOut, kill_recorded_group, run_streaming
from activities.toolchain_reuse import NODE_MODULES, VIRTUALENV, Reuse, find_reuse
from models import Deployment, LogType
from models.build_stats import merge_build_stats
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType

MB = 1 << 20
# The copy steps (activities/toolchain.py) and what each reuses, as build_stats' `reused` names it.
COPIED_KIND = {"virtualenv-copy": VIRTUALENV, "node-modules-copy": NODE_MODULES}


def _failed(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True)


class BuildActivities:
    def __init__(self, ctx: WorkerContext, builder: Builder) -> None:
        self.ctx = ctx
        self.builder = builder

    @activity.defn(name=ActivityName.BUILD)
    async def build(self, ref: DeploymentRef) -> None:
        project = await self.ctx.project(ref.project_id)
        config = await self.ctx.deployment_config(project, ref.deployment_id)
        secrets = await self.ctx.secrets(ref.project_id, ref.pr_number)
        source = self.ctx.workdirs.source(ref.deployment_id)
        pid_file = self.ctx.workdirs.pid_file(ref.deployment_id, "build")
        # A worker that died mid-build left its command running: stop it before starting again. In a
        # thread: stopping a group waits out its grace period, which would freeze the event loop.
        await asyncio.to_thread(kill_recorded_group, pid_file)
        # The recorded config is clamped already; a deployment from before the record is not.
        settings = self.ctx.settings
        limit = min(
            config.build_timeout_seconds or settings.previewd_build_timeout_seconds,
            settings.previewd_max_build_timeout_seconds,
        )
        deadline = time.monotonic() + limit
        masked = [*secrets.values(), *self.builder.masked()]
        async with LogSink(
            self.ctx.db,
            ref.deployment_id,
            LogType.BUILD,
            secrets=masked,
            max_lines=self.ctx.settings.previewd_max_build_log_lines,
        ) as sink:
            attempt = activity.info().attempt
            if attempt > 1:
                sink.info(f"Build attempt {attempt} (the previous worker stopped mid-build)")
            pr = await self.ctx.pull_request(ref.deployment_id)
            reuse = await self._reuse(ref)
            cache_warm = _has_entries(self.ctx.workdirs.build_cache(ref.project_id))
            # A seed command (Heroku's postdeploy) runs after the release, into a new database only.
            # (On Fly the release, and so the seed, runs in a machine of its own: activities/fly.)
            seeding = self.ctx.settings.previewd_platform == "local" and await seed_command.due(
                self.ctx, ref, config
            )
            if seeding:
                config = seed_command.after_release(config)
            try:
                steps = await self.builder.plan(
                    ref, config, secrets=secrets, source=source, sink=sink, pr=pr, reuse=reuse
                )
            except ValueError as error:  # a root directory that is not one (AppDirectory.of)
                sink.error(str(error))
                raise _failed(str(error)) from None
            for step in steps:
                if step.sandbox is not None:
                    # An earlier attempt's sandbox of this step, should one have outlived its worker.
                    await asyncio.to_thread(sandbox.kill_all, step.sandbox.name)
            seconds: dict[str, float] = {}
            reused: dict[str, object] = {"build_cache": cache_warm}
            try:
                for step in steps:
                    started = time.monotonic()
                    try:
                        done = await self._run(step, source, deadline, limit, pid_file, sink)
                    finally:
                        seconds[step.label] = round(time.monotonic() - started, 2)
                    if reuse is not None and step.label in COPIED_KIND:
                        reused[COPIED_KIND[step.label]] = reuse.deployment_id if done else None
            finally:
                # Also for a failed build: where its time went is what its reader wants to know.
                await _record(self.ctx, ref.deployment_id, seconds, reused)
            if seeding:
                await seed_command.ran(self.ctx, ref)

    async def _reuse(self, ref: DeploymentRef) -> Reuse | None:
        """The PR's live deployment, when its toolchain may be copied (activities/toolchain_reuse.py)."""
        async with self.ctx.db.session() as session:
            row = await session.get(Deployment, uuid.UUID(ref.deployment_id))
        keys = ((row.build_stats if row else None) or {}).get("reuse_keys") or {}
        return await find_reuse(
            self.ctx.db, self.ctx.workdirs, project_id=ref.project_id, pr_number=ref.pr_number,
            deployment_id=ref.deployment_id, keys=keys,
        )  # fmt: skip

    async def _run(
        self, step: Step, source: Path, deadline: float, limit: int, pid_file: Path, sink: LogSink
    ) -> bool:
        """Run one step: True when it succeeded, False when an optional one did not (a required one
        that fails raises)."""
        shown = step.shown or " ".join(step.argv)
        sink.info(f"$ {shown}")
        started = time.monotonic()
        try:
            code = await self._exit_code(step, source, deadline, pid_file, sink)
        except FileNotFoundError:
            sink.error(f"{step.label} command not found: {step.argv[0]}")
            raise _failed(f"{step.label} command not found: {step.argv[0]}") from None
        except sandbox.SandboxFailed as error:
            if step.optional:
                sink.info(f"{step.label} did not run ({error}); going on without it")
                return False
            sink.error(f"{step.label} command could not start: its sandbox failed: {error}")
            raise _failed(f"{step.label} command could not start: its sandbox failed: {error}") from None
        except CommandTimedOut:
            sink.error(f"{step.label} command stopped: the build ran past its {limit}s limit")
            raise ApplicationError(
                f"build timed out after {limit}s", type=ErrorType.BUILD_TIMED_OUT, non_retryable=True
            ) from None
        if code != 0 and step.optional:
            sink.info(f"{step.label} exited with code {code}; going on without it")
            return False
        if code != 0:
            sink.error(f"{step.label} command exited with code {code}")
            raise _failed(f"{step.label} command `{shown}` exited with code {code}")
        sink.info(f"{step.label} finished in {time.monotonic() - started:.1f}s")
        return True

    async def _exit_code(
        self, step: Step, source: Path, deadline: float, pid_file: Path, sink: LogSink
    ) -> int:
        if step.sandbox is None:
            return await run_streaming(
                step.argv, cwd=step.cwd or source, env=step.env, on_line=sink.info,
                deadline=deadline, pid_file=pid_file, heartbeat=heartbeat,
            )  # fmt: skip
        result = await sandbox.run(step.sandbox, on_line=sink.info, deadline=deadline, heartbeat=heartbeat)
        if result.oom_killed and result.exit_code != 0:
            memory = step.sandbox.limits.memory_bytes // MB
            message = f"{step.label} command ran out of memory: its limit is {memory} MB (build_memory_mb)"
            sink.error(message)
            raise _failed(message)
        # A command not found inside: the sandbox's shell says so and exits 127 (in the log above).
        return result.exit_code


async def _record(
    ctx: WorkerContext, deployment_id: str, seconds: dict[str, float], reused: dict[str, object]
) -> None:
    """The build's times; never the reason a build fails (it may run while the build is cancelled)."""
    try:
        await merge_build_stats(ctx.db, deployment_id, seconds=seconds, reused=reused)
    except Exception:  # noqa: BLE001 - bookkeeping only
        activity.logger.warning("could not record the build times of %s", deployment_id, exc_info=True)


def _has_entries(directory: Path) -> bool:
    """Whether the project's build cache held anything when the build began (a warm cache)."""
    try:
        with os.scandir(directory) as entries:
            return any(True for _ in entries)
    except OSError:
        return False
