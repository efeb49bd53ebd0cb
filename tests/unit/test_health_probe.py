"""The health probe judges a preview by its status line and never reads the body PR code sends."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import httpx
import pytest

from activities.health_probe import answers


async def _endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: str) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    try:
        while True:  # a body that never ends, a megabyte a tick
            writer.write(b"100000\r\n" + b"x" * 0x100000 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
    except (ConnectionError, asyncio.CancelledError):
        writer.close()


@pytest.fixture
async def endless_server() -> AsyncIterator[dict[str, str]]:
    servers = {}
    urls = {}
    for status in ("200 OK", "503 Service Unavailable"):
        server = await asyncio.start_server(functools.partial(_endless, status=status), "127.0.0.1", 0)
        servers[status] = server
        urls[status] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    yield urls
    for server in servers.values():
        server.close()


async def test_an_endless_body_is_not_read(endless_server: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        assert await asyncio.wait_for(answers(http, endless_server["200 OK"]), 3)
        assert not await asyncio.wait_for(answers(http, endless_server["503 Service Unavailable"]), 3)


async def test_no_answer_is_not_healthy() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with httpx.AsyncClient(timeout=1) as http:
        assert not await answers(http, f"http://127.0.0.1:{port}/")
