"""Files of a commit read from git's object store, never through the checkout.

A checkout is PR content: `previewd.toml` there may be a symbolic link to /etc/passwd or to the data
dir's keys, and opening it would read (and, in an error, echo) the host's file. A tree entry says what
the path is; only a regular file's blob is read, and only up to a size, so no link is followed and no
blob can fill the worker's memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

GIT_TIMEOUT_SECONDS = 60
REGULAR_FILES = frozenset({"100644", "100755"})
SYMLINK = "120000"


class GitObjectError(Exception):
    """A path of a commit that cannot be read as a file; the message names the path, never its content."""


@dataclass
class TreeEntry:
    mode: str
    kind: str
    object_id: str


async def _git(repo: Path, env: dict[str, str], *args: str, limit: int = 1 << 20) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=repo, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        output = await asyncio.wait_for(process.stdout.read(limit + 1), GIT_TIMEOUT_SECONDS)
        if len(output) > limit:
            process.kill()
            raise GitObjectError(f"git {args[0]} said more than {limit} bytes")
        _, error = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise GitObjectError(f"git {args[0]} failed: {error.decode(errors='replace').strip()[:300]}")
    return output


async def tree_entry(repo: Path, env: dict[str, str], sha: str, path: str) -> TreeEntry | None:
    """What `path` is in `sha`'s tree, or None when there is nothing there. A path under a directory
    that is a link in that tree is not found: git does not follow links in trees."""
    output = await _git(repo, env, "ls-tree", "-z", "--full-tree", sha, "--", path)
    for record in output.split(b"\0"):
        meta, _, name = record.partition(b"\t")
        if name.decode(errors="replace") == path:
            mode, kind, object_id = meta.decode().split(" ")
            return TreeEntry(mode=mode, kind=kind, object_id=object_id)
    return None


async def read_file(repo: Path, env: dict[str, str], sha: str, path: str, *, max_bytes: int) -> str | None:
    """The text of the regular file `path` at `sha`, None when there is none. GitObjectError when it
    is a link, a directory, a submodule, too large or not UTF-8."""
    entry = await tree_entry(repo, env, sha, path)
    if entry is None:
        return None
    if entry.mode == SYMLINK:
        raise GitObjectError(f"{path} is a symbolic link; previewd reads only a regular file there")
    if entry.mode not in REGULAR_FILES or entry.kind != "blob":
        raise GitObjectError(f"{path} is not a regular file")
    size = int(await _git(repo, env, "cat-file", "-s", entry.object_id))
    if size > max_bytes:
        raise GitObjectError(f"{path} is {size} bytes; at most {max_bytes} are read")
    data = await _git(repo, env, "cat-file", "blob", entry.object_id, limit=max_bytes)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise GitObjectError(f"{path} is not UTF-8 text") from None


async def blob_id(repo: Path, env: dict[str, str], sha: str, path: str) -> str | None:
    """The object `path` names at `sha` with its mode (a link and a file of the same text differ), or
    None when there is nothing there: equal ids mean the same file."""
    entry = await tree_entry(repo, env, sha, path)
    return None if entry is None else f"{entry.mode} {entry.object_id}"


async def changed_paths(repo: Path, env: dict[str, str], old: str, new: str) -> list[str]:
    """Every path that differs between two commits' trees (a rename is its two paths)."""
    output = await _git(
        repo, env, "diff", "--name-only", "-z", "--no-renames", old, new, "--", limit=64 << 20
    )
    return [name.decode(errors="replace") for name in output.split(b"\0") if name]


def watched(path: str, patterns: list[str]) -> bool:
    """Whether a changed path is one of the watch paths: `app/` (a directory), `app` (that path or
    anything under it) or a glob (`*.py`, `docs/*.md`, matched against the whole path)."""
    for pattern in patterns:
        base = pattern.rstrip("/")
        if path == base or path.startswith(base + "/") or fnmatchcase(path, pattern):
            return True
    return False
