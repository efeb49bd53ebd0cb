"""The sandbox's file system, as bwrap arguments: the system read-only, the work dir and the cache
writable, nothing else of the host.

Not `--ro-bind / /`: that would show the data dir, /root, /home, other deployments' checkouts and
previewd's venv. Only what programs need to run is bound: /usr (and the /bin, /lib… links into it),
and a curated part of /etc. Files that would tell the sandbox about the host (passwd, hosts) or point
it at the host's resolver are written fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID, Network, SandboxSpec

# Top-level system directories; on a merged-/usr system most are links into /usr and stay links.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

# What of /etc programs need: the CA store (the registries here sit behind a CA given through
# SSL_CERT_FILE/SSL_CERT_DIR), the dynamic loader's cache, resolver and locale settings, the
# alternatives links (node, python3 resolve through them). Not the operator's tool config (pip.conf,
# npmrc, gitconfig: they point at host paths), not shadow, not ssh.
ETC_ENTRIES = (
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "localtime",
    "timezone",
    "mime.types",
    "protocols",
    "services",
    "networks",
    "os-release",
    "debian_version",
    "python3",
    "python3.11",
    "shells",
    "profile",
    "bash.bashrc",
    "inputrc",
    "magic",
    "magic.mime",
    "mtab",
)

# slirp4netns answers DNS on this address and forwards to the host's resolver, which is reachable
# from the host even when it is a loopback address the sandbox must never reach itself.
SLIRP_DNS = "10.0.2.3"


def synthetic_files(spec: SandboxSpec) -> dict[str, bytes]:
    """/etc files written for the sandbox instead of the host's."""
    resolv = f"nameserver {SLIRP_DNS}\n" if spec.network is Network.INTERNET else ""
    return {
        "/etc/passwd": (
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"preview:x:{SANDBOX_UID}:{SANDBOX_GID}:preview:{spec.home}:/bin/sh\n"
        ).encode(),
        "/etc/group": f"root:x:0:\npreview:x:{SANDBOX_GID}:\n".encode(),
        "/etc/hosts": b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\tpreview\n",
        "/etc/hostname": b"preview\n",
        "/etc/resolv.conf": resolv.encode(),
    }


def filesystem_args(
    spec: SandboxSpec, data_fd: Callable[[bytes], int], host_root: Path = Path("/")
) -> list[str]:
    """bwrap arguments for the mounts. `data_fd(content)` returns a readable fd holding content."""
    # bwrap would make /etc 0700 (root's) for the files written into it: programs must read them.
    args: list[str] = ["--perms", "0755", "--dir", "/etc"]
    for name in SYSTEM_DIRS:
        path = host_root / name
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    for name in ETC_ENTRIES:
        path = host_root / "etc" / name
        if path.exists():
            args += ["--ro-bind", str(path), f"/etc/{name}"]
    for inside, content in synthetic_files(spec).items():
        args += ["--perms", "0644", "--ro-bind-data", str(data_fd(content)), inside]
    # A new PID namespace: this /proc lists only the sandbox's own processes.
    args += ["--proc", "/proc", "--dev", "/dev"]
    for scratch in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--tmpfs", scratch]
    # /run as a system has it, empty and readable: bwrap would make it under the worker's umask (077
    # under `previewd up`) for the first bind below it, shutting the sandbox's uid out of what is
    # bound there (the env file, a preview database's socket).
    args += ["--perms", "0755", "--dir", "/run"]
    # HOME is a fresh tmpfs the sandbox uid can write (bwrap makes it as root: hence world-writable,
    # with the sticky bit; the sandbox has one uid anyway). The cache is bound on top as ~/.cache.
    args += ["--perms", "1777", "--tmpfs", spec.home]
    if spec.cache_dir is not None:
        args += ["--bind", str(spec.cache_dir), spec.cache_inside]
    args += ["--bind", str(spec.work_dir), spec.inner_work_dir]
    for bind in spec.read_only:
        args += ["--ro-bind", str(bind.host), bind.inside]
    return args + ["--chdir", spec.start_dir]
