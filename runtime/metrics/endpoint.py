"""`GET /metrics` on a port of its own (never the dashboard's, the webhooks' or the proxy's, which
GitHub and the public reach): loopback by default, behind a bearer token when PREVIEWD_METRICS_TOKEN
is set (required off loopback, config.py).

Before each scrape the `refreshers` run (e.g. the Postgres figures of previews.py, cached a few
seconds); `extra_sources` are other Prometheus texts appended as they are (the worker's Temporal SDK
metrics, served by Temporal's runtime on a loopback port of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence

import httpx
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

log = logging.getLogger("previewd.metrics")

Refresher = Callable[[], Awaitable[None]]
# The whole fetch of another source, not each read: httpx's timeouts bound each socket operation, so a
# source that trickles a byte a second would otherwise hold the scrape (and Prometheus's) for ever.
EXTRA_SOURCE_TIMEOUT_SECONDS = 2.0
# A refresher (a Postgres read) that takes longer leaves the last known figures in this scrape.
REFRESH_TIMEOUT_SECONDS = 5.0


def metrics_app(
    *, token: str | None, refreshers: Sequence[Refresher] = (), extra_sources: Sequence[str] = ()
) -> Starlette:
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not secrets.compare_digest(given, expected):
                return PlainTextResponse(
                    "a bearer token is required (PREVIEWD_METRICS_TOKEN)",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        for refresh in refreshers:
            try:
                await asyncio.wait_for(refresh(), REFRESH_TIMEOUT_SECONDS)
            except Exception:  # noqa: BLE001 - a scrape still answers with what it has
                log.warning("a metrics refresh failed; its figures are the last known", exc_info=True)
        body = generate_latest(REGISTRY)
        for url in extra_sources:
            body += await _fetch(url)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


async def _fetch(url: str) -> bytes:
    # trust_env=False: a loopback source, never through an HTTP(S)_PROXY of the environment.
    try:
        async with (
            asyncio.timeout(EXTRA_SOURCE_TIMEOUT_SECONDS),
            httpx.AsyncClient(timeout=EXTRA_SOURCE_TIMEOUT_SECONDS, trust_env=False) as client,
        ):
            answer = await client.get(url)
    except (httpx.HTTPError, TimeoutError) as error:
        log.warning("metrics at %s did not answer: %r", url, error)
        return b""
    return answer.content if answer.status_code == 200 else b""


class _Server(uvicorn.Server):
    """Signals are the process's own business (web/server.py, worker.py), not this server's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    """The endpoint's server, run in the caller's event loop. A port that cannot be bound (another
    previewd on this host) is said in the log and leaves the process running without metrics."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            log.error("metrics not served: cannot listen on %s:%d (%s)", self.host, self.port, error)
            return False
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return True

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait([self._task], timeout=5)
