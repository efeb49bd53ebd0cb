"""One HTTP request through to a preview and its answer back, streamed both ways.

Nothing is held whole: the request body goes up piece by piece as the server hands it over (the server
stops reading the socket while a piece waits, so a 200 MB upload costs a few buffers), and each piece
of the answer goes down the moment the preview sends it, so server-sent events and long polls arrive
as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from web.proxy.headers import end_to_end, to_upstream
from web.proxy.refusal import refuse_http


class ClientGone(Exception):
    """The client hung up before its request body was complete."""


def new_client() -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        # No read timeout: an event stream or a long poll may be quiet for as long as it likes.
        timeout=httpx.Timeout(30.0, read=None),
        follow_redirects=False,
        # The operator's HTTP(S)_PROXY is for previewd's own calls out, never for a hop on this host.
        trust_env=False,
        # Streams and long polls each hold a connection for their whole life: no cap that would
        # make the next request wait for one (each preview bounds itself).
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=50),
    )
    # httpx adds Accept, Accept-Encoding, Connection and User-Agent of its own to every request: a
    # client that never offered gzip would get a gzipped answer passed on as the preview sent it.
    # The preview gets the client's headers, nothing of ours but X-Forwarded-*.
    for name in list(client.headers.keys()):
        del client.headers[name]
    return client


async def forward_http(
    client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send, *, upstream: str, name: str
) -> None:
    """Forward the request; stop at once if the client leaves, whether the preview is still thinking
    (a long poll) or quiet mid-answer (an event stream), so it never holds an upstream connection for
    nobody."""
    body_sent = asyncio.Event()
    exchange = asyncio.ensure_future(_exchange(client, scope, receive, send, upstream, name, body_sent))
    watch = asyncio.ensure_future(_until_disconnect(receive, body_sent))
    try:
        await asyncio.wait({exchange, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (exchange, watch):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        with contextlib.suppress(asyncio.CancelledError):
            await exchange  # its own errors surface here


async def _exchange(
    client: httpx.AsyncClient,
    scope: Scope,
    receive: Receive,
    send: Send,
    upstream: str,
    name: str,
    body_sent: asyncio.Event,
) -> None:
    outbound = client.build_request(
        scope["method"],
        target(upstream, scope),
        headers=to_upstream(scope),
        content=_body(receive, body_sent) if _has_body(scope) else None,
    )
    if not _has_body(scope):
        body_sent.set()
    try:
        reply = await client.send(outbound, stream=True)
    except ClientGone:
        return
    except httpx.HTTPError:
        await refuse_http(send, 502, f"previewd: preview {name} is not answering (it may be restarting)\n")
        return
    try:
        await send(
            {
                "type": "http.response.start",
                "status": reply.status_code,
                "headers": end_to_end(reply.headers.raw),
            }
        )
        async for chunk in reply.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except httpx.HTTPError:
        # The preview went away mid-answer. Returning without the final message makes the server
        # drop the connection, so the client sees a cut answer rather than a complete-looking one.
        return
    except OSError:
        return  # the client went away (the server's ClientDisconnected is an OSError)
    finally:
        await reply.aclose()


def target(upstream: str, scope: Scope) -> httpx.URL:
    """The upstream URL with the path exactly as the client sent it: the decoded path would turn
    `/a%2F..%2Fsecret` into `/secret` and reach what the app meant to keep behind its own routing."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    # Set after parsing: parsing a string would re-read the path (only literal `/../` segments are
    # resolved, as every HTTP client does before sending).
    return httpx.URL(f"http://{upstream}/").copy_with(raw_path=raw_path + (b"?" + query if query else b""))


def _has_body(scope: Scope) -> bool:
    """HTTP/1.1 frames a request body with Content-Length or Transfer-Encoding; without either there
    is none, and sending one (even empty, chunked) would make a GET look like it had a body."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


async def _body(receive: Receive, body_sent: asyncio.Event) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            body_sent.set()
            return


async def _until_disconnect(receive: Receive, body_sent: asyncio.Event) -> None:
    """After the body (the only other reader of `receive`) is through, wait for the client to leave."""
    await body_sent.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
