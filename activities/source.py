"""The `source` activity: the exact sha, cloned into the deployment's own directory."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.git_fetch import Fetcher, LineSink, fetcher
from activities.git_objects import blob_id, changed_paths, watched
from activities.github.client import GitHubApiError
from activities.repo_settings import in_root, read_repo_files
from activities.sandbox import hand_over
from models import Project
from models.deployments import record_effective_config
from models.effective_config import Effective, Source, resolve
from models.repo_config import FILE_NAME, RepoConfigError
from workflows.activity_io import ActivityName, CloneResult, ConfigChangeInput, DeploymentRef, ErrorType

InstallationToken = Callable[[int], Awaitable[str]]


def git_auth_env(token: str) -> dict[str, str]:
    """Git config passed through the environment: the token never reaches argv (the process list),
    .git/config, or git's output."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


class SourceActivities:
    def __init__(self, ctx: WorkerContext, installation_token: InstallationToken | None = None) -> None:
        self.ctx = ctx
        # Set when a GitHub App is configured: repositories of its installations clone with its token.
        self.installation_token = installation_token

    async def _credentials(
        self, installation_id: int | None, own_url: bool
    ) -> tuple[dict[str, str], list[str]]:
        if own_url or installation_id is None or self.installation_token is None:
            return {}, []
        try:
            token = await self.installation_token(installation_id)
        except GitHubApiError as error:
            raise ApplicationError(
                f"no installation token for installation {installation_id}: {error}",
                type="GitHubUnavailable" if error.transient else ErrorType.CLONE_FAILED,
                non_retryable=not error.transient,
            ) from None
        return git_auth_env(token), [token]

    def clone_url(self, repo_full_name: str, configured: str | None) -> str:
        return configured or f"{self.ctx.settings.github_url}/{repo_full_name}.git"

    @activity.defn(name=ActivityName.CLONE)
    async def clone(self, ref: DeploymentRef) -> CloneResult:
        """The sha checked out, its config read from git objects at the trusted sha and recorded with
        the deployment; skipped when no watch path changed since the live sha."""
        project = await self.ctx.project(ref.project_id)
        target = self.ctx.workdirs.source(ref.deployment_id)
        # A retry starts clean: whatever an earlier attempt left is thrown away.
        await asyncio.to_thread(shutil.rmtree, target, True)
        target.mkdir(parents=True)
        config_sha = ref.config_sha or ref.commit_sha
        async with self._fetcher(project, target, ref.deployment_id) as fetch:
            sink = fetch.sink
            sink.info(f"Cloning {project.github_repo_full_name} at {ref.commit_sha[:12]}")
            started = time.monotonic()
            await fetch.run(["git", "init", "--quiet"], ref.commit_sha)
            if config_sha != ref.commit_sha:
                sink.info(
                    f"Reading {FILE_NAME} at {config_sha[:12]}, the base of this pull request from a fork"
                )
                await fetch.fetch(config_sha)
            # The head last: FETCH_HEAD is what is checked out.
            await fetch.fetch(ref.commit_sha)
            await fetch.run(
                ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
                ref.commit_sha,
            )
            sink.info(f"Cloned in {time.monotonic() - started:.1f}s")
            effective, record = await self._effective_config(project, target, fetch.env, config_sha, sink)
            async with self.ctx.db.session() as session:
                await record_effective_config(session, uuid.UUID(ref.deployment_id), record)
            watching = bool(effective.config.watch_paths) and ref.live_sha not in ("", ref.commit_sha)
            # The live sha only when it decides something; gone (force-pushed away) means build.
            if watching and not await fetch.try_fetch(ref.live_sha):
                sink.info(
                    f"The live preview's commit {ref.live_sha[:12]} is gone: building without watch paths"
                )
            elif watching:
                changed = await changed_paths(target, fetch.env, ref.live_sha, ref.commit_sha)
                if not any(watched(path, effective.config.watch_paths) for path in changed):
                    message = (
                        f"No watched path changed since {ref.live_sha[:12]} (the live preview): "
                        f"{len(changed)} changed path(s), none under "
                        f"{', '.join(effective.config.watch_paths)}; not built, the live preview stays"
                    )
                    sink.info(message)
                    return CloneResult(skipped=True, message=message)
            if self.ctx.sandbox.sandboxed:
                # The sandbox's uid builds in it (writable at /app). Without following links: the
                # checkout is PR content (see hand_over).
                await asyncio.to_thread(hand_over, target)
        return CloneResult()

    async def _effective_config(
        self, project: Project, target: Path, env: dict[str, str], sha: str, sink: LineSink
    ) -> tuple[Effective, dict[str, Any]]:
        stored = project.deployment_config
        settings = self.ctx.settings
        try:
            files = await read_repo_files(target, env, sha, project.config().root_directory)
            effective = resolve(
                stored, files, max_memory_mb=settings.previewd_max_memory_mb,
                max_processes=settings.previewd_max_processes,
            )  # fmt: skip
        except RepoConfigError as error:
            for problem in error.problems:
                sink.error(problem)
            raise ApplicationError(str(error), type=ErrorType.BAD_CONFIG, non_retryable=True) from None
        if files.config is not None:
            sink.info(f"Using {files.config_path} at {sha[:12]}")
        for name, process in (("start_command", "web"), ("release_command", "release")):
            if effective.sources.get(name) == Source.PROCFILE:
                sink.info(
                    f"Using the Procfile's {process}: line as the {name.removesuffix('_command')} command"
                )
        return effective, effective.record(files)

    @activity.defn(name=ActivityName.CONFIG_CHANGED)
    async def config_changed(self, input: ConfigChangeInput) -> bool:
        """Whether a fork's head has another previewd.toml than its base (by object id and mode; a
        file that appears or goes is a change too). Read in a scratch clone of the two commits that
        is removed after."""
        project = await self.ctx.project(input.project_id)
        scratch = self.ctx.workdirs.deployment(f"config-check-{uuid.uuid4()}")
        target = scratch / "src"
        target.mkdir(parents=True)
        path = in_root(project.config().root_directory, FILE_NAME)
        try:
            async with self._fetcher(project, target, None) as fetch:
                await fetch.run(["git", "init", "--quiet"], input.head_sha)
                await fetch.fetch(input.base_sha)
                await fetch.fetch(input.head_sha)
                base = await blob_id(target, fetch.env, input.base_sha, path)
                head = await blob_id(target, fetch.env, input.head_sha, path)
        finally:
            await asyncio.to_thread(self.ctx.workdirs.remove, scratch.name)
        return base != head

    @asynccontextmanager
    async def _fetcher(
        self, project: Project, target: Path, deployment_id: str | None
    ) -> AsyncIterator[Fetcher]:
        config = project.config()
        url = self.clone_url(project.github_repo_full_name, config.clone_url)
        rules = self.ctx.settings.clone_rules
        # Asked again here, not only on save: a value stored before the rule (or written to the
        # database by hand) must not reach git either.
        problem = rules.problem(url)
        if problem is not None:
            raise ApplicationError(
                f"clone_url refused: {problem}", type=ErrorType.CLONE_FAILED, non_retryable=True
            )
        auth_env, secrets = await self._credentials(project.github_installation_id, bool(config.clone_url))
        async with fetcher(
            self.ctx, url=url, protocols=rules.protocols(url), target=target, auth_env=auth_env,
            secrets=secrets, deployment_id=deployment_id,
        ) as fetch:  # fmt: skip
            yield fetch
