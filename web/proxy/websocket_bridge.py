"""One WebSocket through to a preview: the client's handshake is made again upstream with the
`websockets` client, then messages go both ways until either side closes, and the close code and
reason go through to the other side.

Each hop keeps itself alive as its library does: the server answers and sends pings on the client's
hop, the client library on the preview's (ASGI has no ping messages to pass on). A message is held
whole on the way through, never more than MAX_MESSAGE_BYTES, the server's limit too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from web.proxy.headers import WEBSOCKET_HANDSHAKE, RawHeaders, end_to_end, to_upstream
from web.proxy.refusal import refuse_websocket, refuse_websocket_text

# The server's own default (uvicorn's ws_max_size); server.py sets it from here so both hops agree.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
PREVIEW_FRAMES_AHEAD = 1
# Codes a close frame may carry (RFC 6455 7.4.1; 1012-1014 registered since). 1005 (no code) and
# 1006 (no close frame at all) only describe what was received, and cannot be sent on.
_SENDABLE = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
# The Host goes into a URI: anything but a name and a port (`…:8080/x`, `…@other`) would be read as a
# path or a user and reach the preview as another Host or path than the client sent.
_PLAIN_HOST = re.compile(rb"[a-z0-9.-]+(:[0-9]{1,5})?", re.IGNORECASE)
_CANNOT_PASS = "previewd: this Host header or path cannot be passed on to a preview\n"


async def bridge_websocket(scope: Scope, receive: Receive, send: Send, *, upstream: str, name: str) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    preview = await _open(scope, send, upstream, name)
    if preview is None:
        return  # refused, with the preview's answer or ours
    # What the preview set on its 101 (a cookie, say), without the handshake's own headers.
    accepted = preview.response.headers if preview.response else Headers()
    try:
        await send({
            "type": "websocket.accept",
            "subprotocol": preview.subprotocol,
            "headers": end_to_end(_as_bytes(accepted), also_drop=WEBSOCKET_HANDSHAKE),
        })  # fmt: skip
        await _relay(preview, receive, send)
    finally:
        await preview.close()


async def _open(scope: Scope, send: Send, upstream: str, name: str) -> ClientConnection | None:
    """The handshake made again with the preview, or the client refused and None."""
    uri = _uri(scope)
    if uri is None:
        await refuse_websocket_text(scope, send, 400, _CANNOT_PASS)
        return None
    host, port = upstream.rsplit(":", 1)
    try:
        return await connect(
            uri,
            host=host,  # where the TCP connection goes; the URI's host is the Host header the preview sees
            port=int(port),
            additional_headers=_as_text(to_upstream(scope, also_drop=WEBSOCKET_HANDSHAKE)),
            subprotocols=scope.get("subprotocols") or None,
            user_agent_header=None,  # the client's own User-Agent went through with its headers
            proxy=None,  # see http_forward.new_client: never the operator's outbound proxy
            max_size=MAX_MESSAGE_BYTES,
            # What the library reads ahead of us, in frames (its default is 16: 256 MiB a WebSocket
            # at MAX_MESSAGE_BYTES). A preview writing to a client that reads nothing fills it and
            # the web process, which also answers webhooks, with it; one frame ahead is enough for
            # the relay, which hands each message on before it asks for the next.
            max_queue=PREVIEW_FRAMES_AHEAD,
            open_timeout=30,
        )
    except InvalidStatus as refused:
        # The preview's own "no" (401, 403, 404…) reaches the client as the preview said it.
        response = refused.response
        headers = end_to_end(_as_bytes(response.headers))
        await refuse_websocket(scope, send, response.status_code, headers, bytes(response.body))
    except InvalidURI:  # a port beyond 65535, say
        await refuse_websocket_text(scope, send, 400, _CANNOT_PASS)
    except (OSError, TimeoutError, InvalidHandshake):
        await refuse_websocket_text(
            scope, send, 502, f"previewd: preview {name} is not answering (it may be restarting)\n"
        )
    return None


def _as_text(headers: RawHeaders) -> list[tuple[str, str]]:
    # The library reads and writes header values as ISO-8859-1, so every byte goes through unchanged.
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def _as_bytes(headers: Headers) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.raw_items()]


def _uri(scope: Scope) -> str | None:
    """ws://{the client's Host}{the path as sent}: the client library sends that Host on, and the path
    stays as the client encoded it (see http_forward.target)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    host = next((value for key, value in scope["headers"] if key == b"host"), b"")
    if not _PLAIN_HOST.fullmatch(host):
        return None
    try:
        return f"ws://{host.decode('ascii')}{raw_path.decode('ascii')}" + (
            f"?{query.decode('ascii')}" if query else ""
        )
    except UnicodeDecodeError:
        return None


async def _relay(preview: ClientConnection, receive: Receive, send: Send) -> None:
    """Both directions at once, until one side closes; the other direction then stops too."""
    up = asyncio.ensure_future(_client_to_preview(preview, receive))
    down = asyncio.ensure_future(_preview_to_client(preview, send))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        for task in (up, down):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _client_to_preview(preview: ClientConnection, receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            # The server reports 1012 when it shuts down: the preview hears "service restart".
            await preview.close(_sendable(message.get("code", 1005), gone=1001), message.get("reason") or "")
            return
        try:
            if message.get("text") is not None:
                await preview.send(message["text"])
            else:
                await preview.send(message.get("bytes") or b"")
        except ConnectionClosed:
            return  # `_preview_to_client` sees the close and passes it on


async def _preview_to_client(preview: ClientConnection, send: Send) -> None:
    try:
        while True:
            data = await preview.recv()
            await send(
                {"type": "websocket.send", "text": data}
                if isinstance(data, str)
                else {"type": "websocket.send", "bytes": data}
            )
    except ConnectionClosed as closed:
        code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
        with contextlib.suppress(OSError):  # the client may be gone already
            await send({"type": "websocket.close", "code": _sendable(code, gone=1011), "reason": reason})
    except OSError:
        return  # the client went away; `_client_to_preview` hears it


def _sendable(code: int, *, gone: int) -> int:
    """A received close code as one that can be sent on: no code is a normal close; a side that vanished
    without closing is told to the other as `gone` (1001 "going away" to a preview whose client left,
    1011 "internal error" to a client whose preview died)."""
    if code in _SENDABLE or 3000 <= code < 5000:
        return code
    return 1000 if code == 1005 else gone
