from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.github_system import GitHubSystem, github_system
from tests.integration.proxy_harness import Upstream, route_to, start_upstream
from tests.integration.system import AppRepo, System, free_port, system_of_its_own


@pytest.fixture(scope="package")
def system() -> Iterator[System]:
    with system_of_its_own("") as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path) -> AppRepo:
    # A name of its own: the project's (local) repository id is derived from it.
    return AppRepo.create(tmp_path / f"app-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="package")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubSystem]:
    """The system as a GitHub App installation on a loopback fake of GitHub; shared by the GitHub tests."""
    with github_system(tmp_path_factory.mktemp("github")) as running:
        yield running


@pytest.fixture(scope="package")
def previews(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    """Two previews behind the proxy, `pr-1-proxy-a` and `pr-1-proxy-b`, each its own process, and a
    route `pr-1-proxy-down` to a port where nothing listens."""
    started: dict[str, Upstream] = {}
    try:
        for name in ("pr-1-proxy-a", "pr-1-proxy-b"):
            started[name] = start_upstream(system, name, system.root / "logs")
            route_to(
                system, AppRepo.create(tmp_path_factory.mktemp("proxy") / name), name, started[name].port
            )
        route_to(
            system, AppRepo.create(tmp_path_factory.mktemp("proxy") / "down"), "pr-1-proxy-down", free_port()
        )
        yield started
    finally:
        for upstream in started.values():
            upstream.stop()
