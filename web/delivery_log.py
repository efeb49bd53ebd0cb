"""Recording a verified delivery: the webhook's only I/O, one round trip to Postgres.

Raw psycopg on its own small pool rather than the ORM: this is the path GitHub waits on, and at 20
concurrent deliveries on 2 cores every millisecond of per-request overhead shows in the p99.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from models.deliveries import DeliveryOutcome
from models.locks import pull_request_key, repository_key
from web.installation_events import InstallationChange
from web.installation_sync import apply_installation_change

# Finds the repository's active project and records the delivery in one statement. ON CONFLICT makes a
# redelivery (same X-GitHub-Delivery) a no-op: RETURNING then yields no row.
RECORD_PULL_REQUEST = """
WITH project AS (
    SELECT id FROM projects WHERE github_repo_id = %(repo_id)s AND is_active LIMIT 1
)
INSERT INTO webhook_deliveries
    (delivery_id, event, action, received_at, outcome, reason,
     project_id, pr_number, signal, signal_args, attempts)
SELECT %(delivery_id)s, %(event)s, %(action)s, now(),
       CASE WHEN project.id IS NULL THEN %(ignored)s ELSE %(queued)s END,
       CASE WHEN project.id IS NULL THEN 'no active project for this repository' END,
       project.id, %(pr_number)s,
       CASE WHEN project.id IS NULL THEN NULL ELSE %(signal)s END,
       CASE WHEN project.id IS NULL THEN NULL ELSE %(signal_args)s END,
       0
FROM (SELECT 1) AS one LEFT JOIN project ON true
ON CONFLICT (delivery_id) DO NOTHING
RETURNING outcome
"""

RECORD_IGNORED = """
INSERT INTO webhook_deliveries (delivery_id, event, action, received_at, outcome, reason, attempts)
VALUES (%(delivery_id)s, %(event)s, %(action)s, now(), %(ignored)s, %(reason)s, 0)
ON CONFLICT (delivery_id) DO NOTHING
RETURNING outcome
"""


class DeliveryLog:
    def __init__(self, database_url: str) -> None:
        # Opened full: growing the pool under a burst costs a Postgres backend fork per connection.
        self.pool = AsyncConnectionPool(database_url, min_size=20, max_size=20, open=False)

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def record_pull_request(
        self,
        *,
        delivery_id: str,
        event: str,
        action: str | None,
        repo_id: int,
        pr_number: int,
        signal: str,
        args: dict[str, Any],
    ) -> str | None:
        """Returns the outcome (queued / ignored), or None for a delivery already recorded."""
        params = {
            "delivery_id": delivery_id, "event": event, "action": action, "repo_id": repo_id,
            "pr_number": pr_number, "signal": signal, "signal_args": Jsonb(args),
            "queued": DeliveryOutcome.QUEUED.value, "ignored": DeliveryOutcome.IGNORED.value,
        }  # fmt: skip
        # Deliveries of one PR take their ids in commit order, so the dispatcher's `ORDER BY id` is
        # the order GitHub sent them in: a close can never overtake the push before it. The shared
        # lock on the repository lets an installation change that switches its project off wait for
        # deliveries in flight, and makes later ones wait for it (and then find the project off).
        return await self._record(
            RECORD_PULL_REQUEST, params, locks=(pull_request_key(repo_id, pr_number), repository_key(repo_id))
        )

    async def record_ignored(
        self, *, delivery_id: str, event: str, action: str | None, reason: str
    ) -> str | None:
        params = {
            "delivery_id": delivery_id, "event": event, "action": action, "reason": reason[:200],
            "ignored": DeliveryOutcome.IGNORED.value,
        }  # fmt: skip
        return await self._record(RECORD_IGNORED, params)

    async def record_installation_change(
        self, *, delivery_id: str, event: str, action: str | None, change: InstallationChange
    ) -> str | None:
        async with self.pool.connection() as connection:
            return await apply_installation_change(
                connection, delivery_id=delivery_id, event=event, action=action, change=change
            )

    async def _record(
        self, sql: str, params: dict[str, Any], locks: tuple[int, int] | None = None
    ) -> str | None:
        # One transaction, committed when the connection goes back to the pool.
        async with self.pool.connection() as connection:
            if locks is not None:
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(%s), pg_advisory_xact_lock_shared(%s)", locks
                )
            row = await (await connection.execute(sql, params)).fetchone()
        return str(row[0]) if row else None
