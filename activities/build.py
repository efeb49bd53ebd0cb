"""The `build` activity: the project's install and build commands, output streamed to the logs."""

from __future__ import annotations

import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.environment import app_env
from activities.logsink import LogSink
from activities.processes import CommandTimedOut, kill_recorded_group, run_streaming, split_command
from models import LogType
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType


class BuildActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=ActivityName.BUILD)
    async def build(self, ref: DeploymentRef) -> None:
        project = await self.ctx.project(ref.project_id)
        config = project.config()
        secrets = await self.ctx.secrets(ref.project_id)
        source = self.ctx.workdirs.source(ref.deployment_id)
        pid_file = self.ctx.workdirs.pid_file(ref.deployment_id, "build")
        # A worker that died mid-build left its command running: stop it before starting again.
        kill_recorded_group(pid_file)
        env = app_env(settings=self.ctx.settings, config=config, secrets=secrets, ref=ref, home=source)
        limit = config.build_timeout_seconds or self.ctx.settings.previewd_build_timeout_seconds
        deadline = time.monotonic() + limit
        steps = [
            (label, command)
            for label, command in (("install", config.install_command), ("build", config.build_command))
            if command
        ]
        async with LogSink(
            self.ctx.db, ref.deployment_id, LogType.BUILD, secrets=list(secrets.values())
        ) as sink:
            attempt = activity.info().attempt
            if attempt > 1:
                sink.info(f"Build attempt {attempt} (the previous worker stopped mid-build)")
            if not steps:
                sink.info("No install or build command configured; nothing to build")
            for label, command in steps:
                sink.info(f"$ {command}")
                started = time.monotonic()
                try:
                    code = await run_streaming(
                        split_command(command),
                        cwd=source,
                        env=env,
                        on_line=sink.info,
                        deadline=deadline,
                        pid_file=pid_file,
                        heartbeat=heartbeat,
                    )
                except FileNotFoundError:
                    sink.error(f"{label} command not found: {split_command(command)[0]}")
                    raise ApplicationError(
                        f"{label} command not found: {split_command(command)[0]}",
                        type=ErrorType.BUILD_FAILED,
                        non_retryable=True,
                    ) from None
                except CommandTimedOut:
                    sink.error(f"{label} command stopped: the build ran past its {limit}s limit")
                    raise ApplicationError(
                        f"build timed out after {limit}s", type=ErrorType.BUILD_TIMED_OUT, non_retryable=True
                    ) from None
                if code != 0:
                    sink.error(f"{label} command exited with code {code}")
                    raise ApplicationError(
                        f"{label} command `{command}` exited with code {code}",
                        type=ErrorType.BUILD_FAILED,
                        non_retryable=True,
                    )
                sink.info(f"{label} finished in {time.monotonic() - started:.1f}s")
