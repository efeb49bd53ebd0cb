"""Sandboxes for PR code (issue 10): bubblewrap namespaces, uid 65534, a cgroup each, slirp4netns.

    from activities.sandbox import PortForward, SandboxSpec, hand_over, run, sandbox_env, start_server

    hand_over(checkout); hand_over(project_cache)        # once: the sandbox uid must write them
    spec = SandboxSpec(name="dep-42-build", argv=["/bin/sh", "-c", "npm ci"], work_dir=checkout,
                       cache_dir=project_cache, env=sandbox_env(project_vars))
    result = await run(spec, on_line=log, deadline=time.monotonic() + 600)   # RunResult
    server = start_server(replace(spec, name="dep-42-web", argv=start_argv,
                                  forward=PortForward(host_port, 8000)), output=log_file)
    ...
    server.stop()                                        # also after it exited on its own

What a caller must know:
- previewd runs as root (probe() says why not otherwise) with bwrap, slirp4netns, setpriv and
  nsenter (util-linux) and ip (iproute2) installed.
- The work dir and the cache dir are the sandbox uid's (hand_over); the server's log file and any
  pid file live outside them, where the sandbox cannot write.
- A forwarded server listens on 0.0.0.0 (or 10.0.2.100) inside; the host reaches it on
  127.0.0.1:host_port only.
- Everything of a sandbox dies with previewd (bwrap's --die-with-parent, slirp4netns' exit fd).
- kill_all(name) clears a sandbox known only by its name (after a worker crash).
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
    ReadOnly,
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
    "ReadOnly",
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
