"""The proxy's own answers: no such preview, or a preview that does not answer."""

from __future__ import annotations

from starlette.types import Scope, Send

from web.proxy.headers import RawHeaders

DENIAL_EXTENSION = "websocket.http.response"


async def refuse_http(send: Send, status: int, text: str) -> None:
    await _answer(
        send, "http.response", status, [(b"content-type", b"text/plain; charset=utf-8")], text.encode()
    )


async def answer_http(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    """An answer of the proxy's own with these headers (the waking page, a 503 with Retry-After)."""
    await _answer(send, "http.response", status, headers, body)


async def refuse_websocket(scope: Scope, send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    """Refuse a WebSocket handshake with an HTTP answer, as a server without the proxy would have: a
    client then sees the status (and the preview's own body) instead of a bare 403. A server without
    ASGI's denial-response extension can only close, which it answers with 403."""
    if DENIAL_EXTENSION in scope.get("extensions", {}):
        await _answer(send, "websocket.http.response", status, headers, body)
    else:
        await send({"type": "websocket.close", "code": 1008})


async def refuse_websocket_text(scope: Scope, send: Send, status: int, text: str) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await refuse_websocket(scope, send, status, headers, text.encode())


async def _answer(send: Send, kind: str, status: int, headers: RawHeaders, body: bytes) -> None:
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": f"{kind}.start", "status": status, "headers": headers})
    await send({"type": f"{kind}.body", "body": body, "more_body": False})
