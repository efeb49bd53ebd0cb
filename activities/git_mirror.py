"""A project's git mirror on this host: a bare repository under the data dir that keeps what earlier
deployments fetched, so a push fetches only the objects that are new since then, and each checkout is
made from it locally.

- Private to previewd: `{data dir}/mirrors/{project}.git`, under a directory only previewd's user can
  enter, never mounted into a sandbox. A checkout gets the commit's objects through git's pack
  protocol (`file://`, shallow), never by hard links (the checkout is handed to the sandbox uid, and
  a link would hand it the mirror's files) nor by alternates (a path of this host inside the
  checkout).
- Fetched by sha only, as before (`--` before the URL, the transports the URL needs, the token only
  in the environment). Each PR's head is kept under `refs/previewd/pr-{n}` so git's gc keeps it.
- A fork's commits land in its base project's mirror. Another PR's checkout cannot see them: it is
  fetched from the mirror by its own sha, and git sends only what that commit reaches. The shas
  come from GitHub's webhooks, never from PR content.
- One deployment at a time per project and host (a file lock): fetches, the checkout and the reads
  of its config never meet a half-written mirror.
- A mirror that is missing, not a repository, or whose objects fail a fetch or a checkout is made
  again from the remote (once per clone): the cost is one full shallow fetch, as without a mirror.
"""

from __future__ import annotations

import asyncio
import shutil
from enum import StrEnum
from pathlib import Path

from temporalio.exceptions import ApplicationError

from activities.git_fetch import Fetcher
from workflows.activity_io import ErrorType


class MirrorUse(StrEnum):
    """What a clone found in the mirror, shown per deployment."""

    CREATED = "created"  # first clone of the project on this host
    UPDATED = "updated"  # only new objects were fetched
    HAD_IT = "had the commit"  # nothing fetched (a redeploy, a push back to a known sha)
    REBUILT = "rebuilt"  # found broken and made again


def pr_ref(pr_number: int, role: str = "head") -> str:
    return f"refs/previewd/pr-{pr_number}/{role}"


class Mirror:
    def __init__(self, remote: Fetcher) -> None:
        # `remote` runs git in the mirror (its target), fetching from the project's URL.
        self.remote = remote
        self.path = remote.target
        self.use = MirrorUse.HAD_IT

    async def _valid(self) -> bool:
        if not (self.path / "HEAD").is_file() or self.path.is_symlink():
            return False
        return await self.remote.succeeds(["git", "rev-parse", "--is-bare-repository"])

    async def _make(self) -> None:
        if self.path.is_symlink():  # only the link goes, never what it points at
            self.path.unlink()
        await asyncio.to_thread(shutil.rmtree, self.path, True)
        self.path.mkdir(mode=0o700)
        await self.remote.run(["git", "init", "--quiet", "--bare"], "")
        # gc in the foreground: inside our lock, never behind the next clone's back.
        await self.remote.run(["git", "config", "gc.autoDetach", "false"], "")

    async def open(self) -> None:
        """The mirror, made when missing or not a repository."""
        if self.path.is_dir() and await self._valid():
            return
        existed = self.path.exists() or self.path.is_symlink()
        await self._make()
        self.use = MirrorUse.REBUILT if existed else MirrorUse.CREATED

    async def has(self, sha: str) -> bool:
        return await self.remote.succeeds(["git", "cat-file", "-e", f"{sha}^{{commit}}"])

    async def _ensure(self, sha: str, ref: str | None) -> None:
        if await self.has(sha):
            if ref:
                await self.remote.run(["git", "update-ref", ref, sha], sha)
            return
        await self.remote.fetch(sha, ref)
        if self.use is MirrorUse.HAD_IT:
            self.use = MirrorUse.UPDATED

    async def fetch(self, sha: str, ref: str | None = None) -> None:
        """`sha` in the mirror: fetched (only what is new) unless it is there already. A failure that
        is not "no such commit" (a network error, a broken mirror) is tried once more in a mirror
        made again."""
        try:
            await self._ensure(sha, ref)
        except ApplicationError as error:
            if error.type == ErrorType.CLONE_FAILED or self.use in (MirrorUse.CREATED, MirrorUse.REBUILT):
                raise
            self.remote.sink.info("The project's git mirror failed; making it again")
            await self._make()
            self.use = MirrorUse.REBUILT
            await self._ensure(sha, ref)

    async def try_fetch(self, sha: str) -> bool:
        """A commit that helps but is not needed (the live sha, for watch paths)."""
        return await self.has(sha) or await self.remote.try_fetch(sha)

    async def check_out(self, sha: str, target: Path, ref: str) -> None:
        """`target` (an empty directory) as a shallow clone of `sha`, from the mirror only."""
        local = self.remote.beside(url=self.path.resolve().as_uri(), target=target, protocols=["file"])
        try:
            await _clone_into(local, sha)
        except ApplicationError:
            if self.use in (MirrorUse.CREATED, MirrorUse.REBUILT):
                raise
            # The mirror answered the fetch but could not hand the objects over: broken.
            self.remote.sink.info("The project's git mirror could not give the commit; making it again")
            await self._make()
            self.use = MirrorUse.REBUILT
            await self._ensure(sha, ref)
            await asyncio.to_thread(shutil.rmtree, target, True)
            target.mkdir(parents=True)
            await _clone_into(local, sha)


async def _clone_into(local: Fetcher, sha: str) -> None:
    await local.run(["git", "init", "--quiet"], sha)
    await local.fetch(sha)
    await local.run(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha], sha)
