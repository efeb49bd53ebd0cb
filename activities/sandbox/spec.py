"""What one sandbox is: the command, the directories it may write, its env, limits and network."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

# The uid/gid every sandboxed process runs as ("nobody"): it owns nothing of previewd's. Files the
# sandbox must write (the work dir, the cache dir) are chowned to it by the caller, see prepare_dirs.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

DEFAULT_MEMORY_BYTES = 1 << 30
DEFAULT_MAX_PIDS = 512

# The name becomes a cgroup directory: keep it to characters that cannot walk out of the parent.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# Environment names the sandbox's shell can export (see launch.LOAD_ENV).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Network(StrEnum):
    # Only the sandbox's own loopback: nothing goes in or out.
    NONE = "none"
    # Outbound internet through slirp4netns, minus the host's loopback, the host's own addresses and
    # 169.254.0.0/16; a preview server is reached through `forward`.
    INTERNET = "internet"


@dataclass(frozen=True)
class PortForward:
    """host 127.0.0.1:host_port -> the sandbox's sandbox_port (its server listens on 0.0.0.0)."""

    host_port: int
    sandbox_port: int


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    max_pids: int = DEFAULT_MAX_PIDS


@dataclass(frozen=True)
class SandboxSpec:
    """One sandboxed command.

    `env` is the whole environment inside: nothing of the caller's is added (HOME and PATH included,
    see activities.sandbox.sandbox_env for the usual ones), only PWD (the inner work dir), which bwrap
    sets as it changes into it.
    """

    name: str
    argv: Sequence[str]
    work_dir: Path
    env: Mapping[str, str]
    cache_dir: Path | None = None
    inner_work_dir: str = "/app"
    home: str = "/home/preview"
    limits: Limits = field(default_factory=Limits)
    network: Network = Network.INTERNET
    forward: PortForward | None = None
    # Where the command starts, relative to inner_work_dir (a monorepo's root directory); "" for it.
    subdir: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"sandbox name {self.name!r}: letters, digits, '_', '.', '-' only")
        if not self.argv:
            raise ValueError("empty argv")
        bad = [name for name in self.env if not _ENV_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"environment names must be letters, digits and '_': {bad}")
        for inner in (self.inner_work_dir, self.home):
            if not inner.startswith("/") or inner in ("/", "/proc", "/dev", "/tmp") or ".." in inner:
                raise ValueError(f"{inner!r} cannot hold the work dir or HOME inside the sandbox")
        if self.subdir.startswith("/") or ".." in self.subdir.split("/"):
            raise ValueError(f"{self.subdir!r} must stay inside the work dir")
        if self.forward is not None and self.network is not Network.INTERNET:
            raise ValueError("a port forward needs network=INTERNET (slirp4netns carries it)")

    @property
    def start_dir(self) -> str:
        return (
            f"{self.inner_work_dir}/{self.subdir.strip('/')}"
            if self.subdir.strip("/")
            else self.inner_work_dir
        )

    @property
    def cache_inside(self) -> str:
        return f"{self.home}/.cache"


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    # The kernel's OOM killer killed something in the sandbox (its memory limit was hit).
    oom_killed: bool
