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
from web.proxy.refusal import answer_http, refuse_http, refuse_websocket_text
from web.proxy.waking import (
    RETRY_AFTER_SECONDS,
    AskToWake,
    Waker,
    still_asleep_text,
    waking_headers,
    waking_page,
    wants_html,
)
from web.proxy.websocket_bridge import bridge_websocket


class PreviewProxy:
    def __init__(self, db: Database, domain: str, ask_to_wake: AskToWake | None = None) -> None:
        self.db = db
        self.suffix = "." + domain
        self.client = new_client()
        self.last_request = LastRequest(db)
        self.waker = Waker(db, ask_to_wake or _cannot_wake)

    def app_name(self, host_header: str) -> str | None:
        host = host_header.rsplit(":", 1)[0].lower() if not host_header.startswith("[") else host_header
        if not host.endswith(self.suffix):
            return None
        name = host[: -len(self.suffix)]
        return name or None

    async def route(self, app_name: str) -> PreviewRoute | None:
        async with self.db.session() as session:
            return await session.get(PreviewRoute, app_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            return
        hosts = [value for key, value in scope["headers"] if key == b"host"]
        if len(hosts) > 1:
            # We route on the first; the preview's server might read the second (RFC 9112 3.2: a
            # request with more than one Host is answered 400).
            if scope["type"] == "websocket":
                await receive()
                await refuse_websocket_text(scope, send, 400, "previewd: more than one Host header\n")
            else:
                await refuse_http(send, 400, "previewd: more than one Host header\n")
            return
        host = hosts[0].decode("latin-1") if hosts else ""
        name = self.app_name(host)
        route = await self.route(name) if name else None
        upstream = route.upstream if route else None
        if name is not None and route is not None:
            self.last_request.seen(name)
            if route.asleep:
                upstream = await self._wake(scope, receive, send, route)
                if upstream is None:
                    return  # answered: the waking page, or 503 after waiting
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

    async def _wake(self, scope: Scope, receive: Receive, send: Send, route: PreviewRoute) -> str | None:
        """Ask for the sleeping preview to wake. A browser gets the waking page at once (None);
        anything else waits for the preview (its upstream), or gets 503 when it takes too long."""
        self.waker.wake(route)
        if scope["type"] == "http" and wants_html(scope["headers"]):
            await answer_http(send, 503, waking_headers(), waking_page(route.app_name))
            return None
        awake = await self.waker.until_awake(route.app_name)
        if awake is not None:
            return awake.upstream
        text = still_asleep_text(route.app_name)
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        if scope["type"] == "websocket":
            await receive()  # websocket.connect, before any answer
            await refuse_websocket_text(scope, send, 503, text)
        else:
            await answer_http(send, 503, headers, text.encode())
        return None

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
                await self.waker.drain()
                with contextlib.suppress(Exception):
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _cannot_wake(project_id: object, pr_number: int) -> None:
    raise RuntimeError("this proxy was started without a way to reach PR workflows")
