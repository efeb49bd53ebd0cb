"""The preview proxy against a hostile preview and hostile clients, through the real `previewd web`
(which also answers webhooks and the dashboard: what the proxy gives away, they lose)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path

import httpx

from tests.integration.proxy_harness import Upstream
from tests.integration.system import System, wait_for
from web.proxy.header_deadline import HEADER_SECONDS

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


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1 << 16) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def test_a_slowloris_client_is_cut_off_while_a_complete_request_is_answered(
    system: System, previews: dict[str, Upstream]
) -> None:
    """Connections that send a header line every few seconds and never finish (each holds a file
    descriptor of the process that also takes webhooks) are closed once HEADER_SECONDS have passed;
    a slow upload whose headers are complete is not."""
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", system.preview_port), timeout=10)
        sock.sendall(f"GET /headers HTTP/1.1\r\nHost: {A}.localhost\r\n".encode())
        slow.append(sock)
    # A request whose headers are in, then a body that takes longer than the header limit.
    upload = socket.create_connection(("127.0.0.1", system.preview_port), timeout=10)
    body = b"x" * 10
    upload.sendall(
        f"POST /upload?key={uuid.uuid4().hex} HTTP/1.1\r\nHost: {A}.localhost\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    started = time.monotonic()
    try:
        for sock in [*slow, upload]:
            sock.setblocking(False)
        sent_at = started
        while time.monotonic() - started < HEADER_SECONDS + 10:
            time.sleep(1)
            if time.monotonic() - sent_at >= 3:
                sent_at = time.monotonic()
                for number, sock in enumerate(slow):
                    with contextlib.suppress(OSError):
                        sock.send(f"X-Slow-{number}: {int(sent_at)}\r\n".encode())
            if all(_closed_by_peer(sock) for sock in slow):
                break
        elapsed = time.monotonic() - started
        open_ones = sum(not _closed_by_peer(sock) for sock in slow)
        print(f"slowloris: {len(slow) - open_ones}/{len(slow)} cut off after {elapsed:.1f}s")
        assert open_ones == 0, f"{open_ones} slowloris connections still open after {elapsed:.0f}s"
        upload.setblocking(True)
        upload.sendall(body)
        answer = upload.recv(1 << 16)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    finally:
        for sock in [*slow, upload]:
            sock.close()


def _raw_exchange(system: System, request: bytes) -> bytes:
    sock = socket.create_connection(("127.0.0.1", system.preview_port), timeout=10)
    try:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(1 << 16):  # each request says `Connection: close`
            answer += chunk
        return answer
    finally:
        sock.close()


def test_two_host_headers_are_refused_not_routed_on_one_and_read_on_the_other(
    system: System, previews: dict[str, Upstream]
) -> None:
    answer = _raw_exchange(
        system,
        f"GET /headers HTTP/1.1\r\nHost: {A}.localhost\r\nHost: pr-1-proxy-b.localhost\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_the_preview_gets_no_header_the_client_did_not_send_but_x_forwarded(
    system: System, previews: dict[str, Upstream]
) -> None:
    """No Accept-Encoding of the proxy's own (the preview would gzip an answer for a client that
    cannot read it), no User-Agent, Accept or Connection either."""
    request = f"GET /headers HTTP/1.1\r\nHost: {A}.localhost\r\nConnection: close\r\n\r\n"
    answer = _raw_exchange(system, request.encode())
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    names = sorted(name for name, _ in body["headers"])
    assert names == ["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"], names
