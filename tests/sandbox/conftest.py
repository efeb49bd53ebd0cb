"""Sandbox tests: PR code played by an attacker, inside a real sandbox (bwrap, slirp4netns, cgroups).

Where the host cannot sandbox (no bwrap or slirp4netns, not root, cgroups not writable) they are
skipped with the reason, except under CI, where that is a failure: `make test` installs what they
need where it can. The tests that reach a package registry are skipped when the host itself cannot.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activities.sandbox import (
    Network,
    RunResult,
    SandboxSpec,
    hand_over,
    probe,
    run,
    sandbox_env,
)
from tests.requirements import require, require_reachable

REGISTRY = ("pypi.org", 443)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "network: reaches a package registry from inside a sandbox")


@pytest.fixture(scope="session")
def sandboxing() -> None:
    found = probe()
    require(found.ok, f"no sandbox on this host: {found}")


@pytest.fixture(scope="session")
def registry(sandboxing: None) -> None:
    """The registry must answer the host before its absence inside the sandbox means anything."""
    require_reachable(*REGISTRY)


@dataclass
class Dirs:
    work: Path
    cache: Path


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    hand_over(work)
    hand_over(cache)
    return Dirs(work, cache)


def spec_for(dirs: Dirs, argv: Sequence[str], **changes: Any) -> SandboxSpec:
    values: dict[str, Any] = {
        "name": f"test-{uuid.uuid4().hex[:12]}",
        "argv": list(argv),
        "work_dir": dirs.work,
        "cache_dir": dirs.cache,
        "env": sandbox_env({}),
        "network": Network.NONE,
    }
    values.update(changes)
    return SandboxSpec(**values)


async def run_lines(spec: SandboxSpec, seconds: float = 20.0) -> tuple[RunResult, list[str]]:
    lines: list[str] = []
    result = await run(spec, on_line=lines.append, deadline=time.monotonic() + seconds)
    return result, lines


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def host_cmdlines_with(marker: str) -> list[int]:
    """Host pids whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
