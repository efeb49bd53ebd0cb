"""The outbox dispatcher: recorded deliveries → signal-with-start on their PR workflows.

It runs in the worker process, away from the web app's event loop, so its work never delays a
webhook's acknowledgement. While idle it polls the queued rows (a partial index keeps that to a
lookup of nothing) every 50 ms. Postgres NOTIFY would wake it sooner, but commits that notify are
serialised by Postgres, which showed up directly in the webhook's p99 under a burst.

One dispatcher leads at a time (a Postgres advisory lock), which keeps each PR's deliveries in
arrival order however many workers run. Deliveries of different PRs go out concurrently; the
deliveries of one PR go one after the other, and the first that fails holds back the rest of that
PR, with a backoff of its own (0.2 s doubling to 10 s), while every other PR's keep flowing. A row
that cannot become a signal at all is set aside as `ignored` with the reason, never retried. A
delivery is marked dispatched only after Temporal accepted it; if we die in between it is sent again
and the workflow drops it by its delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from sqlalchemy import text, update
from sqlmodel import col
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from config import Settings
from models import WebhookDelivery
from models.common import utcnow
from models.db import Database
from models.deliveries import DeliveryOutcome
from models.locks import DISPATCHER_LEADER
from outbox.intents import ROUTES, Intent
from runtime.metrics.registry import OUTBOX_DISPATCHES, OUTBOX_LAG_SECONDS
from workflows.preview import PreviewWorkflow
from workflows.signals import PreviewInput, workflow_id_for

log = logging.getLogger("previewd.dispatcher")

BATCH = 500
PARALLEL_PRS = 20
IDLE_POLL_SECONDS = 0.05
NOT_LEADER_RETRY_SECONDS = 2.0
LEADER_CHECK_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
# A Temporal that accepts the connection but never answers would hold a drain round (and with it every
# PR's deliveries) forever. Past this the row is retried; a signal that did arrive twice is dropped by
# the workflow, which remembers recent delivery ids.
RPC_TIMEOUT = timedelta(seconds=10)


NO_WORKFLOW = "no preview workflow runs for this pull request"


@dataclass(frozen=True)
class Queued:
    id: int
    delivery_id: str
    project_id: uuid.UUID
    pr_number: int
    signal: str
    signal_args: dict[str, Any]
    received_at: datetime


class Dispatcher:
    def __init__(self, settings: Settings, db: Database, client: Client) -> None:
        self.settings = settings
        self.db = db
        self.client = client
        # Per PR: (failures in a row, monotonic time before which it is not tried again). One PR whose
        # deliveries Temporal keeps refusing waits alone; every other PR's keep flowing.
        self._held: dict[tuple[uuid.UUID, int], tuple[int, float]] = {}

    async def run(self) -> None:
        while True:
            try:
                # The lock lives on a connection of its own: closing it (or losing it) is what
                # releases leadership, so two dispatchers never lead at once.
                async with await psycopg.AsyncConnection.connect(self.db.url, autocommit=True) as lock_conn:
                    got = await (
                        await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (DISPATCHER_LEADER,))
                    ).fetchone()
                    if not (got and got[0]):
                        await asyncio.sleep(NOT_LEADER_RETRY_SECONDS)
                        continue
                    await self._lead(lock_conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher error; retrying")
                await asyncio.sleep(1.0)

    async def _lead(self, lock_conn: psycopg.AsyncConnection[Any]) -> None:
        last_check = time.monotonic()
        while True:
            if time.monotonic() - last_check > LEADER_CHECK_SECONDS:
                # Raises if the lock's connection is gone: stop leading before another takes over.
                await lock_conn.execute("SELECT 1")
                last_check = time.monotonic()
            sent, _ = await self.drain_once()
            if not sent:
                await asyncio.sleep(IDLE_POLL_SECONDS)

    async def drain_once(self) -> tuple[int, bool]:
        """Send one batch of queued deliveries, skipping PRs whose last attempt failed until their
        backoff ends. Returns (sent, whether any send failed)."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT id, delivery_id, project_id, pr_number, signal, signal_args, received_at"
                        " FROM webhook_deliveries WHERE outcome = :queued ORDER BY id LIMIT :batch"
                    ),
                    {"queued": DeliveryOutcome.QUEUED.value, "batch": BATCH},
                )
            ).all()
        if not rows:
            return 0, False
        groups: OrderedDict[tuple[uuid.UUID, int], list[Queued]] = OrderedDict()
        now = time.monotonic()
        for row in rows:
            queued = Queued(*row)
            pr = (queued.project_id, queued.pr_number)
            if self._held.get(pr, (0, 0.0))[1] <= now:
                groups.setdefault(pr, []).append(queued)
        limit = asyncio.Semaphore(PARALLEL_PRS)
        sent: list[Queued] = []
        not_running: list[int] = []

        async def send_group(pr: tuple[uuid.UUID, int], group: list[Queued]) -> bool:
            async with limit:
                for queued in group:
                    delivered = await self._send(queued)
                    if delivered == "set aside":
                        continue
                    if delivered is None:
                        failures = self._held.get(pr, (0, 0.0))[0] + 1
                        delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2 ** (failures - 1))
                        self._held[pr] = (failures, time.monotonic() + delay)
                        return False
                    if delivered:
                        sent.append(queued)
                    else:
                        not_running.append(queued.id)
                self._held.pop(pr, None)
                return True

        results = await asyncio.gather(*(send_group(pr, group) for pr, group in groups.items()))
        await self._mark_dispatched([queued.id for queued in sent])
        await self._mark_ignored(not_running, NO_WORKFLOW)
        _observe(sent, len(not_running))
        return len(sent) + len(not_running), not all(results)

    async def _send(self, queued: Queued) -> bool | Literal["set aside"] | None:
        """True once Temporal took the signal, False when it had no workflow to give it to (for a
        signal that does not start one), "set aside" for a row that is no signal, None when it failed
        (to be sent again)."""
        try:
            route = ROUTES[Intent(queued.signal)]
            argument = route.argument(**queued.signal_args)
        except (ValueError, TypeError) as error:
            log.error("delivery %s cannot be dispatched: %r", queued.delivery_id, error)
            await self._mark_ignored([queued.id], f"not a signal previewd knows: {error!r}"[:200])
            OUTBOX_DISPATCHES.labels(outcome="set_aside").inc()
            return "set aside"
        workflow_id = workflow_id_for(str(queued.project_id), queued.pr_number)
        try:
            if not route.starts:
                await self.client.get_workflow_handle(workflow_id).signal(
                    route.signal, argument, rpc_timeout=RPC_TIMEOUT
                )
                return True
            await self.client.start_workflow(
                PreviewWorkflow.run,
                PreviewInput(project_id=str(queued.project_id), pr_number=queued.pr_number),
                id=workflow_id,
                task_queue=self.settings.temporal_task_queue,
                start_signal=route.name,
                start_signal_args=[argument],
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND and not route.starts:
                return False
            await self._failed(queued, error)
            return None
        except Exception as error:
            await self._failed(queued, error)
            return None
        return True

    async def _failed(self, queued: Queued, error: Exception) -> None:
        log.warning("delivery %s not yet dispatched: %s", queued.delivery_id, error)
        OUTBOX_DISPATCHES.labels(outcome="failed").inc()
        async with self.db.session() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == queued.id)
                .values(attempts=WebhookDelivery.attempts + 1, last_error=str(error)[:500])
            )
            await session.commit()

    async def _mark_dispatched(self, ids: list[int]) -> None:
        # One UPDATE per batch. If we die before it, those deliveries are sent again and each
        # workflow drops the repeat by its delivery id.
        await self._mark(ids, outcome=DeliveryOutcome.DISPATCHED, dispatched_at=utcnow())

    async def _mark_ignored(self, ids: list[int], reason: str) -> None:
        await self._mark(ids, outcome=DeliveryOutcome.IGNORED, reason=reason)

    async def _mark(self, ids: list[int], **values: object) -> None:
        if not ids:
            return
        async with self.db.session() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(ids))
                .values(**values, attempts=WebhookDelivery.attempts + 1)
            )
            await session.commit()


def _observe(sent: list[Queued], not_running: int) -> None:
    """The outbox lag: from the webhook's recording (web app's clock) to Temporal taking the signal."""
    now = utcnow()
    for queued in sent:
        OUTBOX_LAG_SECONDS.observe(max(0.0, (now - queued.received_at).total_seconds()))
    OUTBOX_DISPATCHES.labels(outcome="dispatched").inc(len(sent))
    OUTBOX_DISPATCHES.labels(outcome="no_workflow").inc(not_running)


async def run_dispatcher(dispatcher: Dispatcher) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await dispatcher.run()
