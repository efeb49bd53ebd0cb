"""The proxy's HTTP protocol: a request's headers must arrive within HEADER_SECONDS.

uvicorn has no such limit: its keep-alive timer stops at the first byte of the next request, and a
connection that sends a header line now and then is held open for ever (slowloris). The proxy is the
edge, reachable by anyone, and it shares its process, and so its file descriptors, with the
webhooks and the dashboard: enough such connections and neither can accept one more. Once the
headers are in, nothing here limits the request (uploads, event streams and WebSockets run as long
as they like).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# nginx's client_header_timeout is 60 s, Apache's mod_reqtimeout 20 s for the first byte and 40 s
# in all; a browser sends its headers in one packet.
HEADER_SECONDS = 15.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # A request that was waiting behind this one has its headers in already (it is in the
        # pipeline); otherwise the next request's headers have the same time as the first's.
        waiting = bool(self.pipeline)
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(HEADER_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
