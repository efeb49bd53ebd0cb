"""A deployment's effective config, from the project's settings and the repository's previewd.toml and
Procfile at the trusted sha (read from git objects: activities/git_objects.py)."""

from __future__ import annotations

from pathlib import Path

from activities.git_objects import GitObjectError, read_file
from models.effective_config import PROCFILE, RepoFiles
from models.repo_config import FILE_NAME, MAX_FILE_BYTES, RepoConfigError, key_lines, parse, parse_procfile


def in_root(root: str | None, name: str) -> str:
    root = (root or "").strip("/")
    return f"{root}/{name}" if root else name


async def read_repo_files(repo: Path, env: dict[str, str], sha: str, dashboard_root: str | None) -> RepoFiles:
    """previewd.toml at the dashboard's root directory, then the Procfile at the root directory the
    file settles on. RepoConfigError for a file that cannot be used."""
    files = RepoFiles(read_at=sha, config_path=in_root(dashboard_root, FILE_NAME))
    try:
        text = await read_file(repo, env, sha, files.config_path, max_bytes=MAX_FILE_BYTES)
    except GitObjectError as error:
        raise RepoConfigError([str(error)]) from None
    if text is not None:
        files.config = parse(text, shown_as=files.config_path)
        files.config_lines = key_lines(text)
    root = (files.config.root_directory if files.config else None) or dashboard_root
    procfile_path = in_root(root, PROCFILE)
    try:
        procfile = await read_file(repo, env, sha, procfile_path, max_bytes=MAX_FILE_BYTES)
    except GitObjectError as error:
        raise RepoConfigError([str(error)]) from None
    files.procfile = parse_procfile(procfile or "")
    return files
