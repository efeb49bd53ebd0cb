"""The `source` activity: the exact sha, cloned into the deployment's own directory."""

from __future__ import annotations

import asyncio
import shutil
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.logsink import LogSink
from activities.processes import base_env, run_streaming
from models import LogType
from workflows.activity_io import ActivityName, DeploymentRef, ErrorType

CLONE_TIMEOUT_SECONDS = 600
# git's own words for "that commit is not there": retrying will not help.
MISSING_COMMIT = (
    "not our ref",
    "couldn't find remote ref",
    "no such remote ref",
    "does not appear to be a git",
)


class SourceActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    def clone_url(self, repo_full_name: str, configured: str | None) -> str:
        return configured or f"{self.ctx.settings.github_url}/{repo_full_name}.git"

    @activity.defn(name=ActivityName.CLONE)
    async def clone(self, ref: DeploymentRef) -> None:
        project = await self.ctx.project(ref.project_id)
        url = self.clone_url(project.github_repo_full_name, project.config().clone_url)
        target = self.ctx.workdirs.source(ref.deployment_id)
        # A retry starts clean: whatever an earlier attempt left is thrown away.
        await asyncio.to_thread(shutil.rmtree, target, True)
        target.mkdir(parents=True)
        env = base_env(target) | {"GIT_TERMINAL_PROMPT": "0"}
        output: list[str] = []

        def on_line(line: str) -> None:
            output.append(line)
            sink.info(line)

        async with LogSink(self.ctx.db, ref.deployment_id, LogType.BUILD) as sink:
            sink.info(f"Cloning {project.github_repo_full_name} at {ref.commit_sha[:12]}")
            started = time.monotonic()
            for argv in (
                ["git", "init", "--quiet"],
                # Fetch just that commit, shallow: no branch name (PR-controlled text) is ever used.
                ["git", "fetch", "--quiet", "--depth", "1", "--no-tags", url, ref.commit_sha],
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
            sink.info(f"Cloned in {time.monotonic() - started:.1f}s")
