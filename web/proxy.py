"""The local platform's reverse proxy: `{app_name}.localhost:8080` → that preview's process.

A plain ASGI app, dispatching on the Host header and streaming both ways, so large or slow responses
(server-sent events, downloads) pass through as they come. Routes are read per request, so a new sha
is served the moment its deployment is switched in.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from models import PreviewRoute
from models.db import Database

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Set by us alone: a client's own would tell the preview a made-up address, host or scheme.
CLIENT_FORWARDING = frozenset(
    {"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
     "x-forwarded-prefix", "x-forwarded-server", "x-real-ip"}
)  # fmt: skip


class PreviewProxy:
    def __init__(self, db: Database, domain: str) -> None:
        self.db = db
        self.suffix = "." + domain
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), follow_redirects=False)

    def app_name(self, host_header: str) -> str | None:
        host = host_header.rsplit(":", 1)[0].lower() if not host_header.startswith("[") else host_header
        if not host.endswith(self.suffix):
            return None
        name = host[: -len(self.suffix)]
        return name or None

    async def upstream(self, app_name: str) -> str | None:
        async with self.db.session() as session:
            route = await session.get(PreviewRoute, app_name)
            return route.upstream if route else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.forward(request)
        await response(scope, receive, send)

    async def forward(self, request: Request) -> Response:
        name = self.app_name(request.headers.get("host", ""))
        if name is None:
            return PlainTextResponse(
                f"previewd: previews live at http://<app>{self.suffix}/\n", status_code=404
            )
        upstream = await self.upstream(name)
        if upstream is None:
            return PlainTextResponse(f"previewd: no live preview named {name}\n", status_code=404)
        dropped = HOP_BY_HOP | CLIENT_FORWARDING
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
        headers += [
            ("x-forwarded-host", request.headers.get("host", "")),
            ("x-forwarded-proto", request.url.scheme),
            ("x-forwarded-for", request.client.host if request.client else ""),
        ]
        outbound = self.client.build_request(
            request.method, _target(upstream, request.scope), headers=headers, content=_body(request)
        )
        try:
            reply = await self.client.send(outbound, stream=True)
        except httpx.HTTPError:
            return PlainTextResponse(
                f"previewd: preview {name} is not answering (it may be restarting)\n", status_code=502
            )
        reply_headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(
            reply.aiter_raw(),
            status_code=reply.status_code,
            headers=reply_headers,
            background=BackgroundTask(reply.aclose),
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: dict[str, Any] = dict(await receive())
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with contextlib.suppress(Exception):
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _target(upstream: str, scope: Scope) -> httpx.URL:
    """The upstream URL with the path exactly as the client sent it: the decoded path would turn
    `/a%2F..%2Fsecret` into `/secret` and reach what the app meant to keep behind its own routing."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    # Set after parsing: parsing a string would re-read the path (only literal `/../` segments are
    # resolved, as every HTTP client does before sending).
    return httpx.URL(f"http://{upstream}/").copy_with(raw_path=raw_path + (b"?" + query if query else b""))


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk
