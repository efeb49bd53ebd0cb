"""Recording a verified delivery: the webhook's only I/O, one round trip to Postgres.

Raw psycopg on its own small pool rather than the ORM: this is the path GitHub waits on, and at 20
concurrent deliveries on 2 cores every millisecond of per-request overhead shows in the p99. A pull
request's delivery goes into the outbox (outbox.enqueue); anything else is only recorded, so that a
redelivery is known.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from models.deliveries import DeliveryOutcome
from outbox.enqueue import record_pull_request
from outbox.intents import Intent
from web.installation_events import InstallationChange
from web.installation_sync import apply_installation_change

RECORD_IGNORED = """
INSERT INTO webhook_deliveries (delivery_id, event, action, received_at, outcome, reason, attempts)
VALUES (%(delivery_id)s, %(event)s, %(action)s, now(), %(ignored)s, %(reason)s, 0)
ON CONFLICT (delivery_id) DO NOTHING
RETURNING outcome
"""

T = TypeVar("T")
WEBHOOK_CONNECTIONS_KEPT = 4
WEBHOOK_CONNECTIONS_MAX = 20
IDLE_CONNECTION_SECONDS = 60.0


class DeliveryLog:
    def __init__(self, database_url: str) -> None:
        # A few kept open, up to 20 under a burst (a Postgres backend each, forked on demand), closed
        # again after a minute idle: each backend's RSS grows with the shared buffers it touches, and
        # twenty of them kept forever cost an idle box hundreds of MB (bench/sleep.py).
        self.pool = AsyncConnectionPool(
            database_url, min_size=WEBHOOK_CONNECTIONS_KEPT, max_size=WEBHOOK_CONNECTIONS_MAX,
            max_idle=IDLE_CONNECTION_SECONDS, open=False,
        )  # fmt: skip

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def _in_transaction(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """`work` in one transaction, committed when the connection goes back to the pool.

        After a restart of Postgres every idle connection of the pool is dead, and the pool finds out
        only by using one: then the dead ones are dropped (pool.check) and `work` runs once more. Every
        write here is keyed by the delivery id (ON CONFLICT), so running it twice records it once."""
        try:
            async with self.pool.connection() as connection:
                return await work(connection)
        except psycopg.OperationalError:
            await self.pool.check()
            async with self.pool.connection() as connection:
                return await work(connection)

    async def record_pull_request(
        self, *, delivery_id: str, event: str, action: str | None, repo_id: int, pr_number: int,
        intent: Intent, args: dict[str, Any],
    ) -> str | None:  # fmt: skip
        """Returns the outcome (queued / ignored), or None for a delivery already recorded."""
        return await self._in_transaction(
            lambda connection: record_pull_request(
                connection, delivery_id=delivery_id, event=event, action=action, repo_id=repo_id,
                pr_number=pr_number, intent=intent, args=args,
            )
        )  # fmt: skip

    async def record_ignored(
        self, *, delivery_id: str, event: str, action: str | None, reason: str
    ) -> str | None:
        params = {
            "delivery_id": delivery_id, "event": event, "action": action, "reason": reason[:200],
            "ignored": DeliveryOutcome.IGNORED.value,
        }  # fmt: skip

        async def record(connection: psycopg.AsyncConnection[Any]) -> str | None:
            row = await (await connection.execute(RECORD_IGNORED, params)).fetchone()
            return str(row[0]) if row else None

        return await self._in_transaction(record)

    async def record_installation_change(
        self, *, delivery_id: str, event: str, action: str | None, change: InstallationChange
    ) -> str | None:
        return await self._in_transaction(
            lambda connection: apply_installation_change(
                connection, delivery_id=delivery_id, event=event, action=action, change=change
            )
        )
