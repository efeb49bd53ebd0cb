"""Whether this host can sandbox PR code, and if not, why: previewd then runs unsandboxed, says so,
and refuses what would hand PR code to strangers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandbox.binaries import HOST_ENV, REQUIRED, find
from activities.sandbox.cgroup import CgroupUnavailable, SandboxCgroup
from activities.sandbox.launch import Launch, SandboxFailed
from activities.sandbox.seccomp import SeccompUnavailable, sandbox_filter
from activities.sandbox.spec import Limits, Network, SandboxSpec


@dataclass(frozen=True)
class Probe:
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def __str__(self) -> str:
        return "sandboxing works" if self.ok else "; ".join(self.reasons)


def probe(*, smoke: bool = True) -> Probe:
    """Check what a sandbox needs; with `smoke`, also start one (`true`, no network) to be sure."""
    reasons = [
        f"{program} not found (apt-get install {package})"
        for program, package in REQUIRED.items()
        if find(program) is None
    ]
    try:
        sandbox_filter()
    except SeccompUnavailable as error:
        # Without it the sandboxes would share the uid's keyrings and could make user namespaces.
        reasons.append(f"seccomp: {error}")
    if os.geteuid() != 0:
        # The sandbox switches to uid 65534, sets routes in its namespace and writes cgroups: all
        # root's. A rootless variant (user namespaces, delegated cgroups) is not built.
        reasons.append("previewd does not run as root (the sandbox needs root to drop to uid 65534)")
    cgroup_reason = _cgroup_problem()
    if cgroup_reason:
        reasons.append(cgroup_reason)
    if not reasons and smoke:
        smoke_reason = _smoke()
        if smoke_reason:
            reasons.append(smoke_reason)
    return Probe(reasons)


def _cgroup_problem() -> str | None:
    try:
        cgroup = SandboxCgroup(f"probe-{uuid.uuid4().hex[:12]}")
    except CgroupUnavailable as error:
        return f"cgroups: {error}"
    try:
        cgroup.create(Limits())
    except OSError as error:
        return f"cgroups not writable: {error}"
    with contextlib.suppress(OSError):
        cgroup.remove()
    return None


def _smoke() -> str | None:
    with tempfile.TemporaryDirectory(prefix="previewd-probe-") as empty:
        spec = SandboxSpec(
            name=f"probe-{uuid.uuid4().hex[:12]}",
            argv=["/bin/true"],
            work_dir=Path(empty),
            env={"PATH": "/usr/bin:/bin"},
            network=Network.NONE,
        )
        return _start(spec)


def _start(spec: SandboxSpec) -> str | None:
    try:
        launch = Launch(spec)
    except OSError as error:
        return f"sandbox setup failed: {error}"
    try:
        process = subprocess.Popen(
            launch.argv,
            env=HOST_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=launch.pass_fds,
        )
        try:
            launch.spawned(process.pid)
        except SandboxFailed:
            pass
        output, _ = process.communicate(timeout=10)
        if process.returncode != 0:
            return f"bwrap failed: {output.decode(errors='replace').strip()[-500:]}"
    except (OSError, subprocess.SubprocessError) as error:
        return f"bwrap failed: {error}"
    finally:
        launch.close()
    return None
