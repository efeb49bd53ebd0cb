"""What a build runs, per platform: the project's install and build commands (local), or its image
built from the Dockerfile and pushed (Fly.io, `activities/fly/builder.py`). The worker picks one
builder for its platform; `BuildActivities` runs whatever steps it plans."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from activities.environment import app_env
from activities.logsink import LogSink
from activities.processes import split_command
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
    """The project's install and build commands, with its env vars and secrets, on this host."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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
        env = app_env(settings=self.settings, config=config, secrets=secrets, ref=ref, home=source)
        commands = (("install", config.install_command), ("build", config.build_command))
        steps = [Step(label, split_command(command), env) for label, command in commands if command]
        if not steps:
            sink.info("No install or build command configured")
        return steps
