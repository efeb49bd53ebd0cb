"""Whether this worker runs PR code in a sandbox, and what a project's sandboxes are given.

Decided once, at the worker's start (PREVIEWD_SANDBOX): `auto` sandboxes when probe() says this host
can, `required` refuses to start without it, `off` never does. Unsandboxed, previewd still runs for
one person trying it out; it says so, and refuses what would hand PR code to strangers (see
models/sandbox_reports.py for who reads the state).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from activities.sandbox import Limits, kill_all, probe
from config import Settings
from models import DeploymentConfig

MB = 1 << 20
# Inside a sandbox: where the checkout is, and HOME (the project's build cache is its .cache).
INNER_WORK_DIR = "/app"
INNER_HOME = "/home/preview"


class SandboxUnavailable(SystemExit):
    """PREVIEWD_SANDBOX=required on a host that cannot sandbox: the worker does not start."""


@dataclass(frozen=True)
class SandboxMode:
    sandboxed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def why_not(self) -> str:
        return "; ".join(self.reasons)


async def decide(settings: Settings) -> SandboxMode:
    if settings.previewd_sandbox == "off":
        return SandboxMode(False, ["PREVIEWD_SANDBOX=off"])
    # probe() starts a sandbox (bwrap, a cgroup): blocking work, off the event loop.
    found = await asyncio.to_thread(probe)
    if found.ok:
        return SandboxMode(True)
    if settings.previewd_sandbox == "required":
        raise SandboxUnavailable(
            f"previewd: PREVIEWD_SANDBOX=required, but this host cannot sandbox: {found}"
        )
    return SandboxMode(False, found.reasons)


def limits(settings: Settings, config: DeploymentConfig, *, memory_mb: int) -> Limits:
    """The project's limits, held under the operator's ceilings (a config saved before a ceiling was
    lowered is clamped here rather than refused)."""
    return Limits(
        memory_bytes=min(memory_mb, settings.ceilings.memory_mb) * MB,
        max_pids=min(config.max_processes, settings.ceilings.processes),
    )


def sandbox_name(deployment_id: str, role: str) -> str:
    """One name per deployment and step ("install", "build", "app"): a retried attempt finds the
    previous attempt's sandbox by it (kill_all)."""
    return f"d-{deployment_id}-{role}"


def kill_leftover(deployment_id: str, role: str) -> None:
    """Kill what an earlier worker left of this sandbox (blocking: call it in a thread)."""
    kill_all(sandbox_name(deployment_id, role))
