"""The `build` activity: the steps the platform's builder plans (`activities/builders.py`) run one by
one in the deployment's sources, within the build's time limit, output streamed to its logs. A step
with a sandbox runs in it (activities/sandbox); any other runs on this host in its own process group."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import sandbox
from activities.builders import Builder, Step
from activities.context import WorkerContext, heartbeat
from activities.logsink import LogSink
from activities.processes import CommandTimedOut, kill_recorded_group, run_streaming
from models import LogType
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType

MB = 1 << 20


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
        secrets = await self.ctx.secrets(ref.project_id)
        source = self.ctx.workdirs.source(ref.deployment_id)
        pid_file = self.ctx.workdirs.pid_file(ref.deployment_id, "build")
        # A worker that died mid-build left its command running: stop it before starting again. In a
        # thread: stopping a group waits out its grace period, which would freeze the event loop.
        await asyncio.to_thread(kill_recorded_group, pid_file)
        limit = config.build_timeout_seconds or self.ctx.settings.previewd_build_timeout_seconds
        deadline = time.monotonic() + limit
        masked = [*secrets.values(), *self.builder.masked()]
        async with LogSink(self.ctx.db, ref.deployment_id, LogType.BUILD, secrets=masked) as sink:
            attempt = activity.info().attempt
            if attempt > 1:
                sink.info(f"Build attempt {attempt} (the previous worker stopped mid-build)")
            pr = await self.ctx.pull_request(ref.deployment_id)
            try:
                steps = await self.builder.plan(ref, config, secrets=secrets, source=source, sink=sink, pr=pr)
            except ValueError as error:  # a root directory that is not one (AppDirectory.of)
                sink.error(str(error))
                raise _failed(str(error)) from None
            for step in steps:
                if step.sandbox is not None:
                    # An earlier attempt's sandbox of this step, should one have outlived its worker.
                    await asyncio.to_thread(sandbox.kill_all, step.sandbox.name)
            for step in steps:
                await self._run(step, source, deadline, limit, pid_file, sink)

    async def _run(
        self, step: Step, source: Path, deadline: float, limit: int, pid_file: Path, sink: LogSink
    ) -> None:
        shown = step.shown or " ".join(step.argv)
        sink.info(f"$ {shown}")
        started = time.monotonic()
        try:
            code = await self._exit_code(step, source, deadline, pid_file, sink)
        except FileNotFoundError:
            sink.error(f"{step.label} command not found: {step.argv[0]}")
            raise _failed(f"{step.label} command not found: {step.argv[0]}") from None
        except sandbox.SandboxFailed as error:
            sink.error(f"{step.label} command could not start: its sandbox failed: {error}")
            raise _failed(f"{step.label} command could not start: its sandbox failed: {error}") from None
        except CommandTimedOut:
            sink.error(f"{step.label} command stopped: the build ran past its {limit}s limit")
            raise ApplicationError(
                f"build timed out after {limit}s", type=ErrorType.BUILD_TIMED_OUT, non_retryable=True
            ) from None
        if code != 0:
            sink.error(f"{step.label} command exited with code {code}")
            raise _failed(f"{step.label} command `{shown}` exited with code {code}")
        sink.info(f"{step.label} finished in {time.monotonic() - started:.1f}s")

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
