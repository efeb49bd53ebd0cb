"""`{app_name}.{domain}:8080` → that preview's process, for HTTP requests and WebSockets alike.

A plain ASGI app, dispatching on the Host header: a request or WebSocket reaches only the preview its
Host names, and a Host that names none (the dashboard's among them) gets no proxying at all. Routes
are read per request, so a new sha is served the moment its deployment is switched in.
"""

from __future__ import annotations

import contextlib

from starlette.types import Receive, Scope, Send

from models import PreviewRoute
from models.db import Database
from web.proxy.http_forward import forward_http, new_client
from web.proxy.last_request import LastRequest
from web.proxy.refusal import refuse_http, refuse_websocket_text
from web.proxy.websocket_bridge import bridge_websocket


class PreviewProxy:
    def __init__(self, db: Database, domain: str) -> None:
        self.db = db
        self.suffix = "." + domain
        self.client = new_client()
        self.last_request = LastRequest(db)

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
        if scope["type"] not in ("http", "websocket"):
            return
        host = next((value for key, value in scope["headers"] if key == b"host"), b"").decode("latin-1")
        name = self.app_name(host)
        upstream = await self.upstream(name) if name else None
        if name is not None and upstream is not None:
            self.last_request.seen(name)
        if scope["type"] == "websocket":
            if name is None or upstream is None:
                await receive()  # websocket.connect, before any answer
                await refuse_websocket_text(scope, send, 404, self._not_found(name))
                return
            await bridge_websocket(scope, receive, send, upstream=upstream, name=name)
            return
        if name is None or upstream is None:
            await refuse_http(send, 404, self._not_found(name))
            return
        await forward_http(self.client, scope, receive, send, upstream=upstream, name=name)

    def _not_found(self, name: str | None) -> str:
        if name is None:
            return f"previewd: previews live at http://<app>{self.suffix}/\n"
        return f"previewd: no live preview named {name}\n"

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.last_request.drain()
                with contextlib.suppress(Exception):
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
