"""The preview proxy against a hostile preview and hostile clients, through the real `previewd web`
(which also answers webhooks and the dashboard: what the proxy gives away, they lose)."""

from __future__ import annotations

import base64
import os
import socket
import time
import uuid
from pathlib import Path

import httpx

from tests.integration.proxy_harness import Upstream
from tests.integration.system import System, wait_for

A = "pr-1-proxy-a"
MiB = 1024 * 1024


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _silent_websocket(system: System, path: str) -> socket.socket:
    """A WebSocket opened through the proxy by hand, whose client then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", system.preview_port), timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {A}.localhost:{system.preview_port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = sock.recv(12)
    assert status.startswith(b"HTTP/1.1 101"), status
    return sock


def test_a_preview_flooding_a_client_that_never_reads_does_not_grow_the_web_process(
    system: System, previews: dict[str, Upstream]
) -> None:
    """The preview sends 4 MiB messages without end to four WebSockets whose clients read nothing:
    the proxy may hold a message or two per WebSocket, never a queue of them (the client library's
    default is 16 frames: 64 MiB a WebSocket here, 256 MiB at the largest messages)."""
    pid = system.children["web"].process.pid
    upstream = previews[A]
    before = _rss(pid)
    keys = [uuid.uuid4().hex for _ in range(4)]
    sockets = []
    for number, key in enumerate(keys):
        started = time.monotonic()
        sockets.append(_silent_websocket(system, f"/ws/flood?mib=4&key={key}"))
        print(f"flood: WebSocket {number} open in {time.monotonic() - started:.1f}s")
    for key in keys:
        httpx.post(f"{upstream.direct}/direct/open", params={"key": key}, timeout=60).raise_for_status()
    try:

        def sent() -> list[int]:
            url = f"{upstream.direct}/direct/flood-sent"
            return [httpx.get(url, params={"key": key}, timeout=60).json()["sent"] for key in keys]

        wait_for(lambda: all(count > 0 for count in sent()), timeout=60, what="every flood to start")
        # Until the preview is held back (its sends stop completing): all the proxy will take is taken.
        last, steady_since = sent(), time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() - steady_since < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            now = sent()
            if now != last:
                last, steady_since = now, time.monotonic()
        growth = _rss(pid) - before
        print(f"flood: messages sent per WebSocket {last}; web RSS growth {growth / MiB:.1f} MiB")
        assert growth < 96 * MiB, f"the web process grew by {growth / MiB:.0f} MiB"
    finally:
        for sock in sockets:
            sock.close()
    wait_for(lambda: _rss(pid) - before < 200 * MiB, timeout=30, what="the web process to let go")
