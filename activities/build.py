"""The `build` activity: the project's install and build commands (local platform), or its image
built from the Dockerfile and pushed (Fly.io), output streamed to the deployment's logs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.environment import app_env
from activities.fly.image import build_command, builder_env
from activities.logsink import LogSink
from activities.processes import CommandTimedOut, base_env, kill_recorded_group, run_streaming, split_command
from models import DeploymentConfig, LogType
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType


@dataclass
class Step:
    label: str
    argv: list[str]
    env: dict[str, str]


# Runs before an image is pushed: the registry repository belongs to the PR's app, which must exist.
PrepareImage = Callable[[DeploymentRef, LogSink], Awaitable[None]]


class BuildActivities:
    def __init__(self, ctx: WorkerContext, prepare_image: PrepareImage | None = None) -> None:
        self.ctx = ctx
        self.prepare_image = prepare_image

    def _steps(self, config: DeploymentConfig, ref: DeploymentRef, secrets: dict[str, str]) -> list[Step]:
        source = self.ctx.workdirs.source(ref.deployment_id)
        if self.ctx.settings.previewd_platform == "fly":
            if config.fly_config.image:
                return []
            env = base_env(source) | builder_env(self.ctx.settings)
            return [Step("image", build_command(self.ctx.settings, config, ref), env)]
        env = app_env(settings=self.ctx.settings, config=config, secrets=secrets, ref=ref, home=source)
        commands = (("install", config.install_command), ("build", config.build_command))
        return [Step(label, split_command(command), env) for label, command in commands if command]

    @activity.defn(name=ActivityName.BUILD)
    async def build(self, ref: DeploymentRef) -> None:
        project = await self.ctx.project(ref.project_id)
        config = project.config()
        secrets = await self.ctx.secrets(ref.project_id)
        source = self.ctx.workdirs.source(ref.deployment_id)
        pid_file = self.ctx.workdirs.pid_file(ref.deployment_id, "build")
        # A worker that died mid-build left its command running: stop it before starting again.
        kill_recorded_group(pid_file)
        limit = config.build_timeout_seconds or self.ctx.settings.previewd_build_timeout_seconds
        deadline = time.monotonic() + limit
        steps = self._steps(config, ref, secrets)
        masked = [
            *secrets.values(),
            *([self.ctx.settings.fly_api_token] if self.ctx.settings.fly_api_token else []),
        ]
        async with LogSink(self.ctx.db, ref.deployment_id, LogType.BUILD, secrets=masked) as sink:
            attempt = activity.info().attempt
            if attempt > 1:
                sink.info(f"Build attempt {attempt} (the previous worker stopped mid-build)")
            if not steps:
                image = config.fly_config.image if self.ctx.settings.previewd_platform == "fly" else None
                sink.info(
                    f"Using the prebuilt image {image}" if image else "No install or build command configured"
                )
            if steps and steps[0].label == "image" and self.prepare_image is not None:
                await self.prepare_image(ref, sink)
            for step in steps:
                await self._run(step, source, deadline, limit, pid_file, sink)

    async def _run(
        self, step: Step, source: Path, deadline: float, limit: int, pid_file: Path, sink: LogSink
    ) -> None:
        shown = " ".join(step.argv)
        sink.info(f"$ {shown}")
        started = time.monotonic()
        try:
            code = await run_streaming(
                step.argv, cwd=source, env=step.env, on_line=sink.info,
                deadline=deadline, pid_file=pid_file, heartbeat=heartbeat,
            )  # fmt: skip
        except FileNotFoundError:
            sink.error(f"{step.label} command not found: {step.argv[0]}")
            raise ApplicationError(
                f"{step.label} command not found: {step.argv[0]}",
                type=ErrorType.BUILD_FAILED,
                non_retryable=True,
            ) from None
        except CommandTimedOut:
            sink.error(f"{step.label} command stopped: the build ran past its {limit}s limit")
            raise ApplicationError(
                f"build timed out after {limit}s", type=ErrorType.BUILD_TIMED_OUT, non_retryable=True
            ) from None
        if code != 0:
            sink.error(f"{step.label} command exited with code {code}")
            raise ApplicationError(
                f"{step.label} command `{shown}` exited with code {code}",
                type=ErrorType.BUILD_FAILED,
                non_retryable=True,
            )
        sink.info(f"{step.label} finished in {time.monotonic() - started:.1f}s")
