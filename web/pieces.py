"""Which of the pieces previewd needs is down: Postgres, Temporal, the worker(s).

/readyz asks afresh. Pages show a banner naming what is down (base.html), from a result at most
CACHE_SECONDS old that a background check keeps current: a page never waits for a check, and the
webhook path never runs one. The worker is judged by its heartbeat row (models/worker_heartbeats.py):
in docker-compose the web app cannot see the workers' processes or files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client

from models.db import Database
from models.worker_heartbeats import heartbeat_ages, workers_down
from web.sandbox_status import SKIPPED_PREFIXES  # not pages (webhooks among them): no banner, no check

log = logging.getLogger("previewd.web.pieces")
CHECK_TIMEOUT_SECONDS = 3.0
CACHE_SECONDS = 5.0
OK = "ok"


class Pieces:
    def __init__(self, db: Database, temporal: Callable[[], Awaitable[Client]]) -> None:
        self.db = db
        self.temporal = temporal
        self._cached: tuple[float, str | None] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def check(self) -> dict[str, str]:
        """Each piece: "ok", or what is wrong with it."""
        checks: dict[str, str] = {}
        try:
            async with self.db.session() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), CHECK_TIMEOUT_SECONDS)
                checks["postgres"] = OK
                ages = await asyncio.wait_for(heartbeat_ages(session), CHECK_TIMEOUT_SECONDS)
            why = workers_down(ages)
            checks["worker"] = OK if why is None else f"down: {why}"
        except Exception as error:
            checks.setdefault("postgres", f"unreachable: {type(error).__name__}")
            # Without Postgres the heartbeats cannot be read; the worker cannot work either.
            checks["worker"] = "unknown: Postgres is unreachable"
        try:
            client = await asyncio.wait_for(self.temporal(), CHECK_TIMEOUT_SECONDS)
            await asyncio.wait_for(client.service_client.check_health(), CHECK_TIMEOUT_SECONDS)
            checks["temporal"] = OK
        except Exception as error:
            checks["temporal"] = f"unreachable: {type(error).__name__}"
        return checks

    def notice(self) -> str | None:
        """The banner's text while some piece is down, from the last check; starts the next check when
        that one is older than CACHE_SECONDS."""
        now = time.monotonic()
        stale = self._cached is None or now - self._cached[0] > CACHE_SECONDS
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh())
        return self._cached[1] if self._cached is not None else None

    async def _refresh(self) -> None:
        try:
            checks = await self.check()
        except Exception:  # a check that fails is retried at the next page
            log.exception("checking previewd's pieces failed")
            return
        down = [f"{piece} is {why}" for piece, why in checks.items() if why != OK]
        self._cached = (time.monotonic(), "; ".join(down) if down else None)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing


class PiecesDownMiddleware:
    """Puts the banner's text on request.state.down for every page, which base.html shows."""

    def __init__(self, app: ASGIApp, pieces: Pieces) -> None:
        self.app = app
        self.pieces = pieces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope["path"]).startswith(SKIPPED_PREFIXES):
            scope.setdefault("state", {})["down"] = self.pieces.notice()
        await self.app(scope, receive, send)
