"""`previewd web`: the dashboard/API server and the previews' proxy, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import uuid
from collections.abc import Iterator

import uvicorn

from config import Settings
from models.db import Database
from runtime.metrics.processes import web_metrics
from web import preview_workflows
from web.app import WEB_DB_CONNECTIONS, create_app
from web.cookie_scope import shared_site_warning
from web.proxy import PreviewProxy
from web.proxy.header_deadline import HeaderDeadlineProtocol
from web.proxy.status_counter import StatusCounter
from web.proxy.websocket_bridge import MAX_MESSAGE_BYTES

log = logging.getLogger("previewd.web")
PROXY_SHUTDOWN_GRACE_SECONDS = 5


class _Server(uvicorn.Server):
    """Two servers share one process, so signals are handled once, by `serve`, for both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, database_url: str) -> None:
    db = Database(database_url, pool_size=WEB_DB_CONNECTIONS)
    app = create_app(settings, database_url, db)
    services = app.state.services

    async def ask_to_wake(project_id: uuid.UUID, pr_number: int) -> None:
        await preview_workflows.wake(services, project_id, pr_number)

    proxy = PreviewProxy(db, settings.previewd_preview_domain, ask_to_wake)
    host = settings.previewd_web_host
    servers = [
        _Server(
            uvicorn.Config(
                app, host=host, port=settings.previewd_web_port, log_level="warning", access_log=False
            )
        ),
        _Server(
            uvicorn.Config(
                StatusCounter(proxy),
                host=host,
                port=settings.previewd_preview_port,
                log_level="warning",
                access_log=False,
                # The proxy is the edge: X-Forwarded-* a client sends (from loopback too) are replaced
                # by ours, never believed.
                proxy_headers=False,
                # Headers within a time limit: a slowloris client must not hold connections (file
                # descriptors of this process, which answers webhooks too) for ever.
                http=HeaderDeadlineProtocol,
                ws="websockets-sansio",
                ws_max_size=MAX_MESSAGE_BYTES,
                # An event stream or an idle WebSocket never ends by itself: past this, shutdown
                # cancels them (the WebSocket's client and preview are told 1012 before that).
                timeout_graceful_shutdown=PROXY_SHUTDOWN_GRACE_SECONDS,
            )
        ),
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's sight. Otherwise a full collection walks that whole heap (hundreds of ms on 2 cores)
    # and every webhook in flight waits for it.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    # GET /metrics on a port of its own (PREVIEWD_METRICS_PORT), never one of the two above.
    metrics = web_metrics(settings, db)
    if metrics is not None:
        metrics.start()
    if warning := shared_site_warning(settings):
        log.warning("%s", warning)
    log.info("dashboard on :%d, previews on :%d", settings.previewd_web_port, settings.previewd_preview_port)
    await asyncio.gather(*(server.serve() for server in servers))
    if metrics is not None:
        await metrics.stop()
