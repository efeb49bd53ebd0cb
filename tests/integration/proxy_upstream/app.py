"""A preview as the proxy's tests need one: it tells what it saw (headers, path, how a body was
framed and how far it has arrived, the close code a WebSocket got) and streams on command.

Run as its own process: `python -m tests.integration.proxy_upstream.app NAME PORT`. Endpoints that
the test calls directly (not through the proxy) carry `direct` in their path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

NAME = sys.argv[1] if len(sys.argv) > 1 else "upstream"
gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
received: defaultdict[str, int] = defaultdict(int)
uploads_ended: dict[str, str] = {}
streams_ended: set[str] = set()
closes: dict[str, dict[str, Any]] = {}


async def headers(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "name": NAME,
            "raw_path": request.scope["raw_path"].decode(),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
        }
    )


async def cookies(request: Request) -> Response:
    response = PlainTextResponse("two cookies")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


async def events(request: Request) -> StreamingResponse:
    """One event, then nothing until the test opens the gate: a proxy that buffers holds the first."""
    key = request.query_params["key"]

    async def stream() -> AsyncIterator[str]:
        try:
            yield "event: hello\ndata: first\n\n"
            await gates[key].wait()
            yield "event: hello\ndata: second\n\n"
        finally:
            streams_ended.add(key)  # also when the server stops it because its client left

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def long_poll(request: Request) -> PlainTextResponse:
    await gates[request.query_params["key"]].wait()
    return PlainTextResponse("news")


async def open_gate(request: Request) -> PlainTextResponse:
    gates[request.query_params["key"]].set()
    return PlainTextResponse("open")


async def upload(request: Request) -> JSONResponse:
    key = request.query_params["key"]
    digest = hashlib.sha256()
    chunks = 0
    try:
        async for chunk in request.stream():
            digest.update(chunk)
            received[key] += len(chunk)
            chunks += 1
    except ClientDisconnect:
        uploads_ended[key] = "cut"
        raise
    uploads_ended[key] = "complete"
    return JSONResponse(
        {
            "bytes": received[key],
            "sha256": digest.hexdigest(),
            "chunks": chunks,
            "content_length": request.headers.get("content-length"),
            "transfer_encoding": request.headers.get("transfer-encoding"),
        }
    )


async def progress(request: Request) -> JSONResponse:
    key = request.query_params["key"]
    return JSONResponse({"bytes": received[key], "ended": uploads_ended.get(key)})


async def echo(websocket: WebSocket) -> None:
    """Echo text as text and bytes as bytes; `close CODE REASON` closes with them."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
    key = websocket.query_params.get("key", "")
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                closes[key] = {"code": message.get("code"), "reason": message.get("reason") or ""}
                return
            if (text := message.get("text")) is not None:
                if text.startswith("close "):
                    _, code, reason = text.split(" ", 2)
                    await websocket.close(int(code), reason)
                    return
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message.get("bytes") or b"")
    except WebSocketDisconnect as gone:
        closes[key] = {"code": gone.code, "reason": gone.reason}


flood_sent: defaultdict[str, int] = defaultdict(int)


async def flood(websocket: WebSocket) -> None:
    """A hostile preview: binary messages of `mib` MiB as fast as they go, whoever reads them, from
    when the test opens the gate `key` (`/direct/open`)."""
    await websocket.accept()
    key = websocket.query_params.get("key", "")
    await gates[key].wait()
    message = os.urandom(int(websocket.query_params.get("mib", "4")) * 1024 * 1024)
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        while True:
            await websocket.send_bytes(message)
            flood_sent[key] += 1


async def flood_progress(request: Request) -> JSONResponse:
    return JSONResponse({"sent": flood_sent[request.query_params["key"]]})


async def ws_headers(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "name": NAME,
            "raw_path": websocket.scope["raw_path"].decode(),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in websocket.scope["headers"]],
        }
    )
    await websocket.receive()


async def ws_refuse(websocket: WebSocket) -> None:
    await websocket.send_denial_response(
        PlainTextResponse("no entry here", status_code=403, headers={"x-why": "members only"})
    )


async def stream_ended(request: Request) -> JSONResponse:
    return JSONResponse(request.query_params["key"] in streams_ended)


async def ws_closes(request: Request) -> JSONResponse:
    return JSONResponse(closes.get(request.query_params["key"]))


app = Starlette(
    routes=[
        Route("/headers", headers),
        Route("/headers/{rest:path}", headers),
        Route("/cookies", cookies),
        Route("/events", events),
        Route("/poll", long_poll),
        Route("/upload", upload, methods=["POST"]),
        Route("/direct/open", open_gate, methods=["POST"]),
        Route("/direct/progress", progress),
        Route("/direct/ws-closes", ws_closes),
        Route("/direct/stream-ended", stream_ended),
        WebSocketRoute("/ws", echo),
        WebSocketRoute("/ws/headers", ws_headers),
        WebSocketRoute("/ws/refuse", ws_refuse),
        WebSocketRoute("/ws/flood", flood),
        Route("/direct/flood-sent", flood_progress),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", ws="websockets-sansio")
