"""The sandbox's network: outbound internet through slirp4netns, minus what belongs to the host.

slirp4netns gives the sandbox's network namespace a tap device whose traffic leaves as ordinary
sockets of the slirp4netns process on the host. So the host's loopback (Postgres, Temporal, the
dashboard, the proxy, other previews) must be closed explicitly: `--disable-host-loopback` stops the
gateway address 10.0.2.2 from reaching 127.0.0.1, and routes of type `unreachable` inside the
namespace close the host's own addresses (a service bound to 0.0.0.0 answers on them) and
169.254.0.0/16, where a cloud keeps its metadata service. Private ranges stay open: the DNS server
and the package registries may sit there. `unreachable` rather than `blackhole` so that a build
trying them fails at once instead of hanging until its timeout.

The routes are set from the host (nsenter into the namespace) before the sandbox's command starts:
the command itself never holds CAP_NET_ADMIN, so it cannot take them out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from activities.sandbox.binaries import HOST_ENV, require
from activities.sandbox.fd_wait import readable_within
from activities.sandbox.spec import PortForward

LINK_LOCAL = "169.254.0.0/16"
SLIRP_MTU = 65520
TAP = "tap0"


def local_addresses(fib_trie: Path) -> set[str]:
    """Every `/32 host LOCAL` entry of a routing table dump: the addresses of that namespace."""
    found: set[str] = set()
    last = ""
    for line in fib_trie.read_text().splitlines():
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text[3:].split()[0]
        elif text.startswith("/32 host LOCAL") and last:
            found.add(last)
    return found


def host_addresses(fib_trie: Path = Path("/proc/net/fib_trie")) -> list[str]:
    """The host's own IPv4 addresses but loopback (which the sandbox's own lo shadows anyway).

    Read from the kernel's routing table: no subprocess, so it adds nothing noticeable to a
    sandbox's start. It is read per sandbox, as addresses can change.
    """
    return sorted(a for a in local_addresses(fib_trie) if not ipaddress.IPv4Address(a).is_loopback)


def wait_for_loopback(child_pid: int, timeout: float = 5.0) -> None:
    """Wait until bwrap has brought up lo in the new namespace.

    bwrap reports the child's pid before the child configures lo over netlink; changing the
    namespace at the same time (routes, slirp4netns) can make bwrap's request fail. Once 127.0.0.1
    is a local address there, bwrap's network setup is over.
    """
    trie = Path(f"/proc/{child_pid}/net/fib_trie")
    deadline = time.monotonic() + timeout
    while "127.0.0.1" not in local_addresses(trie):
        if time.monotonic() > deadline:
            raise TimeoutError(f"lo never came up in the namespace of {child_pid}")
        time.sleep(0.001)


def deny_routes(addresses: Iterable[str]) -> list[str]:
    """`ip -batch` lines that make the host's addresses and link-local unreachable."""
    targets = [LINK_LOCAL] + [f"{a}/32" for a in addresses]
    return [f"route add unreachable {target}" for target in targets]


def set_routes(child_pid: int, lines: list[str], timeout: float = 5.0) -> None:
    """Run `ip -batch` inside the network namespace of child_pid."""
    subprocess.run(
        [require("nsenter"), f"--net=/proc/{child_pid}/ns/net", require("ip"), "-batch", "-"],
        env=HOST_ENV,
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=timeout,
    )


class SlirpFailed(Exception):
    pass


class Slirp:
    """One slirp4netns process serving one sandbox's network namespace."""

    def __init__(self, child_pid: int, api_socket: Path | None) -> None:
        ready_read, ready_write = os.pipe()
        # slirp4netns exits when this pipe closes: when stop() closes it, and when previewd dies.
        exit_read, self._exit_write = os.pipe()
        argv = [
            require("slirp4netns"),
            "--configure",
            f"--mtu={SLIRP_MTU}",
            "--disable-host-loopback",
            # It parses hostile traffic as root on the host: let it confine itself too.
            "--enable-sandbox",
            "--enable-seccomp",
            f"--ready-fd={ready_write}",
            f"--exit-fd={exit_read}",
        ]
        if api_socket is not None:
            argv.append(f"--api-socket={api_socket}")
        self.api_socket = api_socket
        try:
            self.process = subprocess.Popen(
                [*argv, str(child_pid), TAP],
                pass_fds=(ready_write, exit_read),
                env=HOST_ENV,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        finally:
            os.close(ready_write)
            os.close(exit_read)
        self._ready = ready_read

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Block until the tap device is configured (and the API socket listens)."""
        try:
            if not readable_within(self._ready, timeout) or os.read(self._ready, 1) != b"1":
                self.stop()
                detail = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise SlirpFailed(f"slirp4netns did not come up: {detail.strip()}")
        finally:
            os.close(self._ready)

    def forward(self, forward: PortForward) -> None:
        """host 127.0.0.1:host_port -> sandbox:sandbox_port, through slirp's API socket."""
        assert self.api_socket is not None, "forward needs an API socket"
        request = {
            "execute": "add_hostfwd",
            "arguments": {
                "proto": "tcp",
                # Loopback only: the preview proxy on this host reaches it, nobody else.
                "host_addr": "127.0.0.1",
                "host_port": forward.host_port,
                "guest_port": forward.sandbox_port,
            },
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as api:
            api.settimeout(5.0)
            api.connect(str(self.api_socket))
            api.sendall(json.dumps(request).encode())
            api.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := api.recv(4096):
                answer += chunk
        reply = json.loads(answer or b"{}")
        if "return" not in reply:
            raise SlirpFailed(f"add_hostfwd {forward}: {reply.get('error', reply)}")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._exit_write)
        # Nothing of slirp4netns needs a clean shutdown: its namespace is gone or going.
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        # Its exit takes some 20 ms (closing the tap device tears the namespace's network down):
        # reaped on the side rather than waited for.
        threading.Thread(target=self.process.wait, name="slirp4netns-reaper", daemon=True).start()
        if self.process.stderr:
            self.process.stderr.close()
        if self.api_socket is not None:
            self.api_socket.unlink(missing_ok=True)
