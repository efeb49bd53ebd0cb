"""What a build runs, per platform: the project's install, build and release commands (local), or its image
built from the Dockerfile and pushed (Fly.io, `activities/fly/builder.py`). The worker picks one
builder for its platform; `BuildActivities` runs whatever steps it plans."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from activities.environment import PullRequestText, step_env
from activities.local.sandboxing import INNER_HOME, INNER_WORK_DIR, limits, sandbox_name
from activities.logsink import LogSink
from activities.preview_db.urls import PreviewPostgres
from activities.processes import SYSTEM_PATH, shell_argv
from activities.sandbox import Network, ReadOnly, SandboxSpec, hand_over
from activities.toolchain import NODE_MODULES_DIR, PREVIOUS_DIR, AppDirectory, SetupStep, Toolchain
from activities.toolchain_reuse import NODE_MODULES, Reuse
from activities.workdirs import Workdirs
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
    # How the log shows the step: the project's command line as written, not `/bin/sh -c …`.
    shown: str = ""
    # A step that only saves time (a copy of the previous deployment's toolchain): its failure is
    # logged and the build goes on.
    optional: bool = False


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
        pr: PullRequestText | None = None,
        reuse: Reuse | None = None,
    ) -> list[Step]:
        """The commands to run in `source`, in order. Says in `sink` why there are none, and readies
        what the commands need first. `reuse`: a previous deployment whose toolchain may be copied."""
        ...


class LocalBuilder:
    """The deployment's toolchain (activities/toolchain.py), then the project's install, build and
    release command lines (`/bin/sh -c`), with its env vars and secrets: each in a sandbox of its own
    when this worker sandboxes (`sandboxed`), else on this host as previewd."""

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
        pr: PullRequestText | None = None,
        reuse: Reuse | None = None,
    ) -> list[Step]:
        commands = [
            (label, command)
            for label, command in (
                ("install", config.install_command),
                ("build", config.build_command),
                # Last: after the build, before the preview starts (and so before traffic switches).
                ("release", config.release_command),
            )
            if command
        ]
        # A monorepo's app lives in its root directory: its commands run there, its toolchain is there.
        app = AppDirectory.of(source, config.root_directory, sandboxed=self.sandboxed)
        toolchain = Toolchain.detect(app.host)
        setup = toolchain.setup_commands(app.seen, self._copies(reuse, app.host))
        if not commands and not setup:
            sink.info("No install, build or release command configured")
            return []
        env = step_env(
            settings=self.settings, config=config, secrets=secrets, ref=ref, pr=pr or PullRequestText(),
            toolchain=toolchain, source=source, app_root=app.seen, port=config.port, sandboxed=self.sandboxed,
        )  # fmt: skip
        # The toolchain is made by the system's python3, whatever the project's PATH will hold.
        setup_env = env | {"PATH": SYSTEM_PATH}
        planned = [(step.label, step.argv, setup_env, _shown(step), step.copies) for step in setup]
        planned += [(label, shell_argv(command), env, command, False) for label, command in commands]
        if not self.sandboxed:
            return [
                Step(label, argv, env_, cwd=app.host, shown=shown) for label, argv, env_, shown, _ in planned
            ]
        cache = await self._cache(ref.project_id)
        # The PR's own database's socket, when it has one (and only that: activities/preview_db).
        database = PreviewPostgres(self.settings).sandbox_binds(env)
        steps = []
        for label, argv, env_, shown, copies in planned:
            previous = (ReadOnly(reuse.checkout, PREVIOUS_DIR),) if copies and reuse else ()
            spec = SandboxSpec(
                name=sandbox_name(ref.deployment_id, label),
                argv=argv,
                work_dir=source,
                env=env_,
                cache_dir=cache,
                inner_work_dir=INNER_WORK_DIR,
                home=INNER_HOME,
                limits=limits(self.settings, config, memory_mb=config.build_memory_mb),
                network=Network.INTERNET,
                subdir=config.root_directory or "",
                read_only=previous + database,
            )
            steps.append(Step(label, list(spec.argv), env_, sandbox=spec, shown=shown, optional=copies))
        return steps

    def _copies(self, reuse: Reuse | None, app_root: Path) -> frozenset[str]:
        """What to copy from `reuse`: only in a sandbox (see activities/toolchain_reuse.py), and
        node_modules only where the commit has none of its own."""
        if reuse is None or not self.sandboxed:
            return frozenset()
        kinds = set(reuse.kinds)
        if os.path.lexists(app_root / NODE_MODULES_DIR):
            kinds.discard(NODE_MODULES)
        return frozenset(kinds)

    async def _cache(self, project_id: str) -> Path:
        """The project's build cache, made the sandbox uid's when first created."""
        cache = self.workdirs.build_cache(project_id)
        if not cache.is_dir():
            cache.mkdir(parents=True)
            await asyncio.to_thread(hand_over, cache)
        return cache


def _shown(step: SetupStep) -> str:
    """A copy as the log shows it: what is copied, not the script that does it."""
    if step.copies:
        return f"cp -a {step.argv[-2]} {step.argv[-1]}"
    return " ".join(step.argv)
