"""The outbox dispatcher: recorded deliveries → signal-with-start on their PR workflows.

One dispatcher leads at a time (a Postgres advisory lock), which keeps each PR's deliveries in
arrival order however many web processes run. Deliveries of different PRs go out concurrently; the
deliveries of one PR go one after the other, and the first that fails holds back the rest of that PR
until Temporal answers again. A delivery is marked dispatched only after Temporal accepted it; if we
die in between it is sent again and the workflow drops it by its delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, text, update
from temporalio.client import Client

from config import Settings
from models import WebhookDelivery
from models.common import utcnow
from models.db import Database
from models.deliveries import DeliveryOutcome
from workflows.signals import CloseSignal, PreviewInput, PushSignal

log = logging.getLogger("previewd.dispatcher")

LEADER_LOCK_KEY = 0x70726576  # "prev"
BATCH = 500
PARALLEL_PRS = 20
IDLE_POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
SIGNAL_TYPES: dict[str, type[Any]] = {"push": PushSignal, "close": CloseSignal}


class Dispatcher:
    def __init__(self, settings: Settings, db: Database, temporal: Callable[[], Awaitable[Client]]) -> None:
        self.settings = settings
        self.db = db
        self._temporal = temporal
        self._wake = asyncio.Event()
        self._backoff = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                async with self.db.engine.connect() as lock_conn:
                    got = (
                        await lock_conn.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}
                        )
                    ).scalar()
                    await lock_conn.commit()
                    if not got:
                        await asyncio.sleep(2.0)
                        continue
                    await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher error; retrying")
                await asyncio.sleep(1.0)

    async def _lead(self) -> None:
        while True:
            self._wake.clear()
            sent, failed = await self.drain_once()
            if failed:
                self._backoff = min(MAX_BACKOFF_SECONDS, max(0.2, self._backoff * 2))
                await asyncio.sleep(self._backoff)
                continue
            self._backoff = 0.0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    async def drain_once(self) -> tuple[int, bool]:
        """Send one batch of queued deliveries. Returns (sent, whether any send failed)."""
        async with self.db.session() as session:
            rows = (
                (
                    await session.execute(
                        select(WebhookDelivery)
                        .where(WebhookDelivery.outcome == DeliveryOutcome.QUEUED)  # type: ignore[arg-type]
                        .order_by(WebhookDelivery.id)  # type: ignore[arg-type]
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
        if not rows:
            return 0, False
        groups: OrderedDict[str, list[WebhookDelivery]] = OrderedDict()
        for row in rows:
            groups.setdefault(row.workflow_id or "", []).append(row)
        try:
            client = await self._temporal()
        except Exception as error:
            log.warning("Temporal unreachable (%s); %d deliveries wait", error, len(rows))
            return 0, True
        limit = asyncio.Semaphore(PARALLEL_PRS)

        async def send_group(group: list[WebhookDelivery]) -> tuple[int, bool]:
            async with limit:
                sent = 0
                for row in group:
                    if not await self._send(client, row):
                        return sent, True
                    sent += 1
                return sent, False

        results = await asyncio.gather(*(send_group(group) for group in groups.values()))
        return sum(r[0] for r in results), any(r[1] for r in results)

    async def _send(self, client: Client, row: WebhookDelivery) -> bool:
        signal_type = SIGNAL_TYPES[row.signal or ""]
        try:
            await client.start_workflow(
                "PreviewWorkflow",
                PreviewInput(project_id=str(row.project_id), pr_number=row.pr_number or 0),
                id=row.workflow_id or "",
                task_queue=self.settings.temporal_task_queue,
                start_signal=row.signal or "",
                start_signal_args=[signal_type(**(row.signal_args or {}))],
            )
        except Exception as error:
            log.warning("delivery %s not yet dispatched: %s", row.delivery_id, error)
            async with self.db.session() as session:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == row.id)  # type: ignore[arg-type]
                    .values(attempts=WebhookDelivery.attempts + 1, last_error=str(error)[:500])
                )
                await session.commit()
            return False
        async with self.db.session() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == row.id)  # type: ignore[arg-type]
                .values(
                    outcome=DeliveryOutcome.DISPATCHED,
                    dispatched_at=utcnow(),
                    attempts=WebhookDelivery.attempts + 1,
                )
            )
            await session.commit()
        return True
