"""WebSockets through the real proxy (`previewd web`) to real previews: both ways, text and binary,
close codes and subprotocols passed on, the preview's refusal answered as HTTP, and no WebSocket
ever reaching a preview its Host does not name."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.proxy_harness import Upstream
from tests.integration.system import System, wait_for

A, B = "pr-1-proxy-a", "pr-1-proxy-b"


def through_proxy(system: System, host: str, path: str, port: int | None = None, **options: Any) -> connect:
    """A WebSocket to the proxy's port that asks for `host`, as a browser at that URL would."""
    return connect(
        f"ws://{host}:{system.preview_port}{path}", host="127.0.0.1", port=port or system.preview_port,
        proxy=None, open_timeout=15, **options,
    )  # fmt: skip


async def test_text_and_binary_go_both_ways(system: System, previews: dict[str, Upstream]) -> None:
    async with through_proxy(system, f"{A}.localhost", "/ws", max_size=None) as ws:
        await ws.send("hello, preview")
        assert await ws.recv() == "hello, preview"
        binary = bytes(range(256)) * 4
        await ws.send(binary)
        assert await ws.recv() == binary
        # Over the client library's default message size (1 MiB), under the proxy's limit (16 MiB).
        large = uuid.uuid4().bytes * (3 * 1024 * 1024 // 16)
        await ws.send(large)
        echoed = await ws.recv()
        assert isinstance(echoed, bytes) and echoed == large


async def test_the_previews_close_code_and_reason_reach_the_client(
    system: System, previews: dict[str, Upstream]
) -> None:
    async with through_proxy(system, f"{A}.localhost", "/ws") as ws:
        await ws.send("close 4001 see you")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "see you")


async def test_the_clients_close_code_and_reason_reach_the_preview(
    system: System, previews: dict[str, Upstream]
) -> None:
    key = uuid.uuid4().hex
    async with through_proxy(system, f"{A}.localhost", f"/ws?key={key}") as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        await ws.close(4002, "done here")
    seen = wait_for(lambda: _closes(previews[A], key), timeout=10, what="the preview to see the close")
    assert seen == {"code": 4002, "reason": "done here"}


async def test_the_preview_picks_the_subprotocol(system: System, previews: dict[str, Upstream]) -> None:
    async with through_proxy(system, f"{A}.localhost", "/ws", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        await ws.send("x")
        assert await ws.recv() == "x"
    async with through_proxy(system, f"{A}.localhost", "/ws", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol is None


async def test_the_previews_refusal_reaches_the_client_as_its_http_answer(
    system: System, previews: dict[str, Upstream]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with through_proxy(system, f"{A}.localhost", "/ws/refuse"):
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert response.headers["x-why"] == "members only"
    assert bytes(response.body) == b"no entry here"


async def test_the_handshake_reaches_the_preview_with_host_and_forwarding_headers(
    system: System, previews: dict[str, Upstream]
) -> None:
    host = f"{A}.localhost:{system.preview_port}"
    spoofed = {"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Host": "evil.example", "Forwarded": "for=10.9.9.9",
               "X-Real-IP": "10.9.9.9", "Cookie": "session=abc", "Origin": f"http://{host}"}  # fmt: skip
    async with through_proxy(system, f"{A}.localhost", "/ws/headers?x=%2F", additional_headers=spoofed) as ws:
        seen = json.loads(await ws.recv())
    headers = _multi(seen["headers"])
    assert seen["name"] == A
    assert seen["raw_path"] == "/ws/headers"
    assert headers["host"] == [host]
    assert headers["x-forwarded-host"] == [host]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert "forwarded" not in headers and "x-real-ip" not in headers
    assert headers["cookie"] == ["session=abc"] and headers["origin"] == [f"http://{host}"]


async def test_each_host_reaches_its_own_preview_only(system: System, previews: dict[str, Upstream]) -> None:
    for name in (A, B):
        async with through_proxy(system, f"{name}.localhost", "/ws/headers") as ws:
            assert json.loads(await ws.recv())["name"] == name


@pytest.mark.parametrize("host", ["pr-404-nowhere.localhost", "localhost", "127.0.0.1"])
async def test_a_websocket_to_a_host_without_a_preview_is_refused(
    system: System, previews: dict[str, Upstream], host: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with through_proxy(system, host, "/ws"):
            pass
    assert refused.value.response.status_code == 404
    assert b"previewd:" in bytes(refused.value.response.body)


async def test_a_preview_that_does_not_answer_is_a_bad_gateway(
    system: System, previews: dict[str, Upstream]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with through_proxy(system, "pr-1-proxy-down.localhost", "/ws"):
            pass
    assert refused.value.response.status_code == 502
    assert b"pr-1-proxy-down is not answering" in bytes(refused.value.response.body)


async def test_the_dashboard_port_proxies_no_websocket(system: System, previews: dict[str, Upstream]) -> None:
    """The dashboard's server knows no previews: a preview's Host sent there never reaches one."""
    with pytest.raises(InvalidStatus) as refused:
        async with through_proxy(system, f"{A}.localhost", "/ws/headers", port=system.web_port):
            pass
    assert refused.value.response.status_code in (403, 404)


def _closes(upstream: Upstream, key: str) -> dict[str, Any] | None:
    seen: dict[str, Any] | None = httpx.get(f"{upstream.direct}/direct/ws-closes", params={"key": key}).json()
    return seen


def _multi(pairs: list[list[str]]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name, []).append(value)
    return headers
