"""When each preview last served a request, for idle sleep and expiry: recorded in `preview_routes`
at most once every RECORD_EVERY_SECONDS per preview, off the request's path (a request never waits
for the write, and a burst of requests costs one write)."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import update
from sqlalchemy.sql.functions import now

from models import PreviewRoute
from models.db import Database
from web.proxy.recent import Recent

log = logging.getLogger(__name__)

RECORD_EVERY_SECONDS = 30.0


class LastRequest:
    def __init__(self, db: Database, every: float = RECORD_EVERY_SECONDS) -> None:
        self.db = db
        self.every = every
        # Apps whose request was recorded within the last `every` seconds (older ones are forgotten).
        self._recorded: Recent[None] = Recent(every)
        # Held until each write ends: a task nobody references may be collected mid-flight.
        self._writes: set[asyncio.Task[None]] = set()

    def seen(self, app_name: str) -> None:
        """A request for `app_name` passed through the proxy."""
        at = time.monotonic()
        if self._recorded.get(app_name, at) is not None:
            return
        self._recorded.put(app_name, None, at)
        task = asyncio.create_task(self._write(app_name))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, app_name: str) -> None:
        try:
            async with self.db.session() as session:
                await session.execute(
                    update(PreviewRoute)
                    .where(PreviewRoute.app_name == app_name)  # type: ignore[arg-type]
                    .values(last_request_at=now())
                )
                await session.commit()
        except Exception as error:  # a lost write only makes a preview look idle a little sooner
            self._recorded.forget(app_name)
            log.warning("could not record a request to %s: %s", app_name, type(error).__name__)

    async def drain(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
