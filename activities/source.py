"""The `source` activity: the exact sha, cloned into the deployment's own directory."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.github.client import GitHubApiError
from activities.logsink import LogSink
from activities.processes import base_env, run_streaming
from activities.sandbox import hand_over
from models import LogType
from models.clone_source import merge_git_config
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType

CLONE_TIMEOUT_SECONDS = 600
# git's own words for "that commit is not there": retrying will not help.
MISSING_COMMIT = (
    "not our ref",
    "couldn't find remote ref",
    "no such remote ref",
    "does not appear to be a git",
)


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
    async def clone(self, ref: DeploymentRef) -> None:
        project = await self.ctx.project(ref.project_id)
        url = self.clone_url(project.github_repo_full_name, project.config().clone_url)
        rules = self.ctx.settings.clone_rules
        # Asked again here, not only on save: a value stored before the rule (or written to the
        # database by hand) must not reach git either.
        problem = rules.problem(url)
        if problem is not None:
            raise ApplicationError(
                f"clone_url refused: {problem}", type=ErrorType.CLONE_FAILED, non_retryable=True
            )
        target = self.ctx.workdirs.source(ref.deployment_id)
        # A retry starts clean: whatever an earlier attempt left is thrown away.
        await asyncio.to_thread(shutil.rmtree, target, True)
        target.mkdir(parents=True)
        config = project.config()
        auth_env, secrets = await self._credentials(project.github_installation_id, bool(config.clone_url))
        # Only the transport this URL needs: no ext:: (runs commands), no file:// (other checkouts), no
        # ssh, not through a redirect or a submodule either.
        protocols = [("protocol.allow", "never")] + [
            (f"protocol.{name}.allow", "always") for name in rules.protocols(url)
        ]
        env = base_env(target) | {"GIT_TERMINAL_PROMPT": "0"} | merge_git_config(auth_env, protocols)
        output: list[str] = []

        def on_line(line: str) -> None:
            output.append(line)
            sink.info(line)

        async with LogSink(self.ctx.db, ref.deployment_id, LogType.BUILD, secrets=secrets) as sink:
            sink.info(f"Cloning {project.github_repo_full_name} at {ref.commit_sha[:12]}")
            started = time.monotonic()
            for argv in (
                ["git", "init", "--quiet"],
                # Fetch just that commit, shallow: no branch name (PR-controlled text) is ever used.
                # `--`: whatever the URL says, git reads it as a repository, never as an option.
                ["git", "fetch", "--quiet", "--depth", "1", "--no-tags", "--", url, ref.commit_sha],
                ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
            ):
                output.clear()
                code = await run_streaming(
                    argv,
                    cwd=target,
                    env=env,
                    on_line=on_line,
                    deadline=started + CLONE_TIMEOUT_SECONDS,
                    pid_file=self.ctx.workdirs.pid_file(ref.deployment_id, "clone"),
                    heartbeat=heartbeat,
                )
                if code != 0:
                    message = f"git {argv[1]} failed (exit {code})"
                    sink.error(message)
                    text = "\n".join(output).lower()
                    missing = any(phrase in text for phrase in MISSING_COMMIT)
                    raise ApplicationError(
                        f"{message}: commit {ref.commit_sha[:12]} could not be fetched from the repository"
                        if missing
                        else message,
                        type=ErrorType.CLONE_FAILED if missing else "CloneError",
                        non_retryable=missing,
                    )
            if self.ctx.sandbox.sandboxed:
                # The sandbox's uid builds in it (writable at /app). Without following links: the
                # checkout is PR content (see hand_over).
                await asyncio.to_thread(hand_over, target)
            sink.info(f"Cloned in {time.monotonic() - started:.1f}s")
