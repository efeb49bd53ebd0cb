"""What a test needs from its host. Where a developer's machine lacks it (no root, no bubblewrap, no
Chromium, no route to a registry) the test is skipped with the reason; under CI it fails instead,
because a skipped test proves nothing and CI must run every one."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def require(ok: bool, reason: str) -> None:
    if ok:
        return
    if under_ci():
        pytest.fail(f"CI is set, so this test must run, but {reason}")
    pytest.skip(reason)


def require_root_and_setpriv() -> None:
    require(os.geteuid() == 0, "needs root")
    require(shutil.which("setpriv") is not None, "needs setpriv (util-linux)")


def require_reachable(host: str, port: int) -> None:
    """A registry must answer the host before its absence inside a sandbox means anything."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        require(False, f"{host} is unreachable from the host too: {error}")
