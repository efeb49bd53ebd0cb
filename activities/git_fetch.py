"""One clone's git commands: the project's credentials and the transports its URL needs, output to the
deployment's log, a time limit. The commits are fetched by sha only, shallow: no branch name (PR
-controlled text) is ever used, and `--` makes git read whatever the URL says as a repository."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext, heartbeat
from activities.logsink import LogSink
from activities.processes import base_env, run_streaming
from models import LogType
from models.clone_source import merge_git_config
from workflows.activity_io import ErrorType

CLONE_TIMEOUT_SECONDS = 600
# git's own words for "that commit is not there": retrying will not help.
MISSING_COMMIT = (
    "not our ref",
    "couldn't find remote ref",
    "no such remote ref",
    "does not appear to be a git",
)


class LineSink(Protocol):
    def info(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...


class Fetcher:
    def __init__(
        self, *, url: str, target: Path, env: dict[str, str], sink: LineSink, pid_file: Path
    ) -> None:
        self.url, self.target, self.env, self.sink, self.pid_file = url, target, env, sink, pid_file
        self.started = time.monotonic()
        self._output: list[str] = []

    def _line(self, line: str) -> None:
        self._output.append(line)
        self.sink.info(line)

    async def _exit_code(self, argv: list[str]) -> int:
        self._output.clear()
        return await run_streaming(
            argv, cwd=self.target, env=self.env, on_line=self._line,
            deadline=self.started + CLONE_TIMEOUT_SECONDS, pid_file=self.pid_file, heartbeat=heartbeat,
        )  # fmt: skip

    async def run(self, argv: list[str], sha: str) -> None:
        code = await self._exit_code(argv)
        if code != 0:
            message = f"git {argv[1]} failed (exit {code})"
            self.sink.error(message)
            text = "\n".join(self._output).lower()
            missing = any(phrase in text for phrase in MISSING_COMMIT)
            raise ApplicationError(
                f"{message}: commit {sha[:12]} could not be fetched from the repository"
                if missing
                else message,
                type=ErrorType.CLONE_FAILED if missing else "CloneError",
                non_retryable=missing,
            )

    def _fetch_argv(self, sha: str) -> list[str]:
        return ["git", "fetch", "--quiet", "--depth", "1", "--no-tags", "--", self.url, sha]

    async def fetch(self, sha: str) -> None:
        await self.run(self._fetch_argv(sha), sha)

    async def try_fetch(self, sha: str) -> bool:
        """A commit that helps but is not needed (the live sha, for watch paths): gone is no failure."""
        return await self._exit_code(self._fetch_argv(sha)) == 0


@asynccontextmanager
async def fetcher(
    ctx: WorkerContext,
    *,
    url: str,
    protocols: list[str],
    target: Path,
    auth_env: dict[str, str],
    secrets: list[str],
    deployment_id: str | None,
) -> AsyncIterator[Fetcher]:
    """A Fetcher whose output goes to the deployment's build log (or nowhere, for a scratch clone)."""
    # Only the transport this URL needs: no ext:: (runs commands), no file:// (other checkouts), no
    # ssh, not through a redirect or a submodule either.
    allowed = [("protocol.allow", "never")] + [(f"protocol.{name}.allow", "always") for name in protocols]
    env = base_env(target) | {"GIT_TERMINAL_PROMPT": "0"} | merge_git_config(auth_env, allowed)
    if deployment_id is None:
        # A scratch clone (activities/source.py's config check): its output is nobody's log.
        yield Fetcher(url=url, target=target, env=env, sink=_NoLog(), pid_file=target.parent / "clone.pid")
        return
    async with LogSink(ctx.db, deployment_id, LogType.BUILD, secrets=secrets) as sink:
        pid_file = ctx.workdirs.pid_file(deployment_id, "clone")
        yield Fetcher(url=url, target=target, env=env, sink=sink, pid_file=pid_file)


class _NoLog:
    def info(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass
