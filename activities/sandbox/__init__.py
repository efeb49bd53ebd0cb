"""Sandboxes for PR code (issue 10): bubblewrap namespaces, uid 65534, a cgroup each, slirp4netns.

    from activities.sandbox import SandboxSpec, run, start_server, probe

    spec = SandboxSpec(name="dep-42-build", argv=["/bin/sh", "-c", "npm ci"], work_dir=checkout,
                       cache_dir=project_cache, env=sandbox_env(project_vars))
    result = await run(spec, on_line=log, deadline=time.monotonic() + 600)
    server = start_server(replace(spec, name="dep-42-web", argv=start_argv,
                                  forward=PortForward(host_port, 8000)), output=log_file)
    ...
    server.stop()

The caller hands the work dir and the cache dir over to the sandbox uid first (hand_over).
"""

from activities.sandbox.cgroup import kill_all
from activities.sandbox.dirs import hand_over, sandbox_env
from activities.sandbox.launch import SandboxFailed
from activities.sandbox.probe import Probe, probe
from activities.sandbox.run import run
from activities.sandbox.server import SandboxServer, start_server
from activities.sandbox.spec import (
    SANDBOX_GID,
    SANDBOX_UID,
    Limits,
    Network,
    PortForward,
    RunResult,
    SandboxSpec,
)

__all__ = [
    "SANDBOX_GID",
    "SANDBOX_UID",
    "Limits",
    "Network",
    "PortForward",
    "Probe",
    "RunResult",
    "SandboxFailed",
    "SandboxServer",
    "SandboxSpec",
    "hand_over",
    "kill_all",
    "probe",
    "run",
    "sandbox_env",
    "start_server",
]
