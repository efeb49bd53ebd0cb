"""Counts what the previews' proxy answered, by kind and status (previewd_proxy_requests_total).

An ASGI wrapper around the proxy: it reads the status the proxy sends, whoever produced it (the
preview, a refusal, the waking page), so no answer path can be missed. A WebSocket counts as 101
once accepted; one refused before that counts with the refusal's status. A status class would lose
what tells a preview's 404 from its 500, so a status HTTP defines is its own label; any other code
PR code may send (h11 passes any three digits) counts in its class, 5xx, "other" past 599: PR code
cannot mint a time series per request (runtime/metrics/labels.py).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.metrics.labels import status_label
from runtime.metrics.registry import PROXY_REQUESTS


class StatusCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        answered = False

        async def counting_send(message: Message) -> None:
            nonlocal answered
            status = _status_of(message)
            if status is not None and not answered:
                answered = True
                PROXY_REQUESTS.labels(kind=kind, status=status).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if not answered:
                # The client left, or the proxy failed, before any answer.
                PROXY_REQUESTS.labels(kind=kind, status="none").inc()


def _status_of(message: Message) -> str | None:
    kind = message["type"]
    if kind in ("http.response.start", "websocket.http.response.start"):
        return status_label(int(message["status"]))
    if kind == "websocket.accept":
        return "101"
    if kind == "websocket.close":
        return "403"  # closed before accept: the server answers 403
    return None
