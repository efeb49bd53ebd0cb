"""Open WebSockets and event streams do not hold `previewd web` up when it is told to stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runtime.children import spawn_previewd
from tests.integration.proxy_harness import Upstream
from tests.integration.system import System, free_port, wait_for, web_healthy

A = "pr-1-proxy-a"
# The proxy's own grace for streams that never end (web/server.py), plus room for a slow machine.
BOUND_SECONDS = 5 + 15


async def test_an_idle_websocket_and_an_open_event_stream_do_not_hang_shutdown(
    system: System, previews: dict[str, Upstream]
) -> None:
    web_port, preview_port = free_port(), free_port()
    env = {**system.env, "PREVIEWD_WEB_PORT": str(web_port), "PREVIEWD_PREVIEW_PORT": str(preview_port)}
    web = spawn_previewd("web-shutdown", ["web"], env=env, log_dir=system.root / "logs")
    try:
        wait_for(lambda: web_healthy(f"http://127.0.0.1:{web_port}", [web]), timeout=60, what="second web")
        key = uuid.uuid4().hex
        host = f"{A}.localhost:{preview_port}"
        async with (
            connect(f"ws://{host}/ws?key={key}", host="127.0.0.1", port=preview_port, proxy=None) as ws,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{preview_port}", headers={"Host": host}) as client,
            client.stream("GET", "/events", params={"key": uuid.uuid4().hex}) as events,
        ):
            lines = events.aiter_lines()
            assert await anext(lines) == "event: hello"
            await ws.send("still here")
            assert await ws.recv() == "still here"
            stopping = time.monotonic()
            os.kill(web.process.pid, signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), BOUND_SECONDS)
            code = await asyncio.to_thread(web.process.wait, BOUND_SECONDS)
            took = time.monotonic() - stopping
        print(f"web stopped {took:.2f}s after SIGTERM with a WebSocket and an event stream open")
        assert code == 0, web.log_file.read_text()[-2000:]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # service restart
        # The preview heard it too, rather than a connection that vanished.
        seen = wait_for(
            lambda: httpx.get(f"{previews[A].direct}/direct/ws-closes", params={"key": key}).json(),
            timeout=10, what="the preview to see the close",
        )  # fmt: skip
        assert seen["code"] == 1012
    finally:
        web.stop()
