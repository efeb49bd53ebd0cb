"""A receiver's answer is hostile: a body that never ends, or headers that trickle in, must neither
hold a send past its deadline nor be read into memory (real servers on loopback, the real sender)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from config import Settings
from models.notifications import ChannelKind
from notifications.messages import Notice, notice_for
from notifications.senders import Channel, Unreachable, deliver
from workflows.notification_io import EventKind, PreviewEvent

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]
DEADLINE = 2.0


async def endless_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while True:  # a megabyte every few milliseconds, for ever
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def trickling_headers(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:  # one header byte now and then: each read is quick, the whole never ends
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.2)


async def serve(answer: Answer) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await answer(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/hook"
        server.close()


@pytest.fixture(params=[endless_body, trickling_headers])
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async for url in serve(request.param):
        yield url


def _notice() -> Notice:
    event = PreviewEvent(event_id="e-1", kind=EventKind.READY, project_id="p", pr_number=3, sha="a" * 40)
    return notice_for(event, repository="o/r", github_url="https://github.com", base_url="https://pvd")


async def test_a_hostile_answer_holds_a_send_no_longer_than_the_deadline(hostile: str) -> None:
    settings = Settings(
        previewd_notifications_allow_private=True, previewd_notifications_send_seconds=DEADLINE
    )
    channel = Channel(kind=ChannelKind.WEBHOOK, target=hostile, signing_secret="s3cret")
    started = time.monotonic()
    try:
        # Bounded here too, so that the test fails (instead of hanging) when the send is not.
        async with asyncio.timeout(DEADLINE * 5):
            await deliver(channel, _notice(), settings)
    except Unreachable:
        pass  # the trickle: not delivered this time, tried again later
    took = time.monotonic() - started
    assert took < DEADLINE + 1.0, took
