"""What a build runs, per platform: the project's install and build commands (local), or its image
built from the Dockerfile and pushed (Fly.io, `activities/fly/builder.py`). The worker picks one
builder for its platform; `BuildActivities` runs whatever steps it plans."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from activities.environment import app_env, app_values, sandboxed_env
from activities.local.sandboxing import INNER_HOME, INNER_WORK_DIR, limits, sandbox_name
from activities.logsink import LogSink
from activities.processes import split_command
from activities.sandbox import Network, SandboxSpec, hand_over
from activities.workdirs import Workdirs, root_directory
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef


@dataclass
class Step:
    label: str
    argv: list[str]
    env: dict[str, str]
    # Where the command runs; None: the deployment's sources. A tool that reads its own config from
    # its working directory (flyctl, docker) runs in a directory previewd owns instead.
    cwd: Path | None = None
    # Set: the step runs in this sandbox (its env is spec.env); unset: on the host, with `env`.
    sandbox: SandboxSpec | None = None


class Builder(Protocol):
    def masked(self) -> list[str]:
        """Values to mask in build output besides the project's secrets: the operator's own tokens."""
        ...

    async def plan(
        self,
        ref: DeploymentRef,
        config: DeploymentConfig,
        *,
        secrets: dict[str, str],
        source: Path,
        sink: LogSink,
    ) -> list[Step]:
        """The commands to run in `source`, in order. Says in `sink` why there are none, and readies
        what the commands need first."""
        ...


class LocalBuilder:
    """The project's install and build commands, with its env vars and secrets: each in a sandbox of
    its own when this worker sandboxes (`sandboxed`), else on this host as previewd."""

    def __init__(
        self, settings: Settings, *, sandboxed: bool = False, workdirs: Workdirs | None = None
    ) -> None:
        self.settings = settings
        self.sandboxed = sandboxed
        self.workdirs = workdirs or Workdirs(settings.data_dir)

    def masked(self) -> list[str]:
        return []

    async def plan(
        self,
        ref: DeploymentRef,
        config: DeploymentConfig,
        *,
        secrets: dict[str, str],
        source: Path,
        sink: LogSink,
    ) -> list[Step]:
        values = app_values(
            settings=self.settings,
            config=config,
            secrets=secrets,
            ref=ref,
            port=config.port,
            sandboxed=self.sandboxed,
        )
        commands = [
            (label, command)
            for label, command in (("install", config.install_command), ("build", config.build_command))
            if command
        ]
        if not commands:
            sink.info("No install or build command configured")
            return []
        if not self.sandboxed:
            env = app_env(values=values, home=source)
            cwd = root_directory(source, config.root_directory)
            return [Step(label, split_command(command), env, cwd=cwd) for label, command in commands]
        cache = await self._cache(ref.project_id)
        env = sandboxed_env(values, home=INNER_HOME)
        steps = []
        for label, command in commands:
            spec = SandboxSpec(
                name=sandbox_name(ref.deployment_id, label),
                argv=split_command(command),
                work_dir=source,
                env=env,
                cache_dir=cache,
                inner_work_dir=INNER_WORK_DIR,
                home=INNER_HOME,
                limits=limits(self.settings, config, memory_mb=config.build_memory_mb),
                network=Network.INTERNET,
                subdir=config.root_directory or "",
            )
            steps.append(Step(label, list(spec.argv), env, sandbox=spec))
        return steps

    async def _cache(self, project_id: str) -> Path:
        """The project's build cache, made the sandbox uid's when first created."""
        cache = self.workdirs.build_cache(project_id)
        if not cache.is_dir():
            cache.mkdir(parents=True)
            await asyncio.to_thread(hand_over, cache)
        return cache
