"""Every write into the outbox: a webhook's pull request delivery, the teardowns an installation change
fans out, and the dashboard's one-click deploy.

A PR's rows take their ids in commit order under the PR's lock, so the dispatcher's `ORDER BY id` is
the order they arrived in: a close can never overtake the push before it. A writer also holds its
repository's lock shared, which lets an installation change that switches the repository's project
off (it takes that lock exclusively) wait for the rows in flight, and makes later ones wait for it
(and then find the project off).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deliveries import DeliveryOutcome, WebhookDelivery
from models.locks import pull_request_key, repository_key
from models.projects import Project
from outbox.intents import Intent

LOCK_PULL_REQUEST = "SELECT pg_advisory_xact_lock(%s), pg_advisory_xact_lock_shared(%s)"
LOCK_REPOSITORY = "SELECT pg_advisory_xact_lock(%s)"

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

# Every PR that ever reached a workflow: a close to one that has ended is simply not delivered.
QUEUE_TEARDOWNS = """
INSERT INTO webhook_deliveries
    (delivery_id, event, action, received_at, outcome, project_id, pr_number, signal, signal_args, attempts)
SELECT key, %(event)s, %(action)s, now(), %(queued)s, project_id, pr_number, %(teardown)s,
       jsonb_build_object('delivery_id', key, 'merged', false, 'reason', %(reason)s::text), 0
FROM (
    SELECT DISTINCT project_id, pr_number,
           %(delivery_id)s || ':' || project_id::text || ':' || pr_number::text AS key
    FROM webhook_deliveries
    WHERE project_id = ANY(%(projects)s) AND signal = %(push)s
) AS prs
ORDER BY project_id, pr_number
ON CONFLICT (delivery_id) DO NOTHING
"""


async def record_pull_request(
    connection: AsyncConnection[Any], *, delivery_id: str, event: str, action: str | None, repo_id: int,
    pr_number: int, intent: Intent, args: dict[str, Any],
) -> str | None:  # fmt: skip
    """The webhook's write, for the repository's active project (or `ignored` without one). Returns
    the outcome (queued / ignored), or None for a delivery already recorded."""
    params = {
        "delivery_id": delivery_id, "event": event, "action": action, "repo_id": repo_id,
        "pr_number": pr_number, "signal": intent.value, "signal_args": Jsonb(args),
        "queued": DeliveryOutcome.QUEUED.value, "ignored": DeliveryOutcome.IGNORED.value,
    }  # fmt: skip
    await connection.execute(
        LOCK_PULL_REQUEST, (pull_request_key(repo_id, pr_number), repository_key(repo_id))
    )
    row = await (await connection.execute(RECORD_PULL_REQUEST, params)).fetchone()
    return str(row[0]) if row else None


async def lock_repositories(connection: AsyncConnection[Any], repo_ids: Iterable[int]) -> None:
    """Exclusive, until the transaction ends, in key order: waits for the repositories' rows in flight
    and holds back later ones. It stands for every PR lock of those repositories, which is why
    `queue_teardowns` takes none (taking them after it would reverse `record_pull_request`'s order,
    PR then repository, and deadlock)."""
    for key in sorted({repository_key(repo_id) for repo_id in repo_ids}):
        await connection.execute(LOCK_REPOSITORY, (key,))


async def queue_teardowns(
    connection: AsyncConnection[Any], *, delivery_id: str, event: str, action: str | None,
    projects: list[uuid.UUID], reason: str,
) -> None:  # fmt: skip
    """A `close_if_running` for every PR of the projects, under `lock_repositories` of their
    repositories (held by the caller, who switched the projects off under it)."""
    await connection.execute(
        QUEUE_TEARDOWNS,
        {"projects": projects, "reason": reason, "event": event, "action": action,
         "delivery_id": delivery_id, "queued": DeliveryOutcome.QUEUED.value,
         "teardown": Intent.CLOSE_IF_RUNNING.value, "push": Intent.PUSH.value},
    )  # fmt: skip


async def enqueue(
    session: AsyncSession, *, delivery_id: str, event: str, action: str | None, project: Project,
    pr_number: int, intent: Intent, args: dict[str, Any],
) -> None:  # fmt: skip
    """A row for a change made outside GitHub (the dashboard), under the same locks as a webhook's.
    The caller commits, with whatever else belongs to the same change."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:pr), pg_advisory_xact_lock_shared(:repo)"),
        {
            "pr": pull_request_key(project.github_repo_id, pr_number),
            "repo": repository_key(project.github_repo_id),
        },
    )
    session.add(
        WebhookDelivery(
            delivery_id=delivery_id,
            event=event,
            action=action,
            outcome=DeliveryOutcome.QUEUED,
            project_id=project.id,
            pr_number=pr_number,
            signal=intent.value,
            signal_args=args,
        )  # fmt: skip
    )


# The drift reconcile's write: queued only if nothing was recorded for the PR since the reconcile
# read it (`after`, the PR's newest push or close row then), under the PR's lock like every writer. A
# webhook that arrived in between knows better than a listing taken before it.
RECORD_IF_UNCHANGED = """
INSERT INTO webhook_deliveries
    (delivery_id, event, action, received_at, outcome, project_id, pr_number, signal, signal_args, attempts)
SELECT %(delivery_id)s, %(event)s, %(action)s, now(), %(queued)s, %(project_id)s, %(pr_number)s,
       %(signal)s, %(signal_args)s, 0
WHERE (
    SELECT coalesce(max(id), 0) FROM webhook_deliveries
    WHERE project_id = %(project_id)s AND pr_number = %(pr_number)s AND signal = ANY(%(watched)s)
) = %(after)s
ON CONFLICT (delivery_id) DO NOTHING
RETURNING id
"""


async def enqueue_if_unchanged(
    connection: AsyncConnection[Any], *, delivery_id: str, event: str, action: str, project: Project,
    pr_number: int, intent: Intent, args: dict[str, Any], after: int, watched: list[Intent],
) -> bool:  # fmt: skip
    """A row the drift reconcile decided on, unless the PR's newest `watched` row is no longer `after`
    (0: none) or the same decision was queued already (its delivery id is deterministic). Returns
    whether it was queued; the caller commits."""
    await connection.execute(
        LOCK_PULL_REQUEST,
        (pull_request_key(project.github_repo_id, pr_number), repository_key(project.github_repo_id)),
    )
    params = {
        "delivery_id": delivery_id, "event": event, "action": action, "queued": DeliveryOutcome.QUEUED.value,
        "project_id": project.id, "pr_number": pr_number, "signal": intent.value,
        "signal_args": Jsonb(args), "watched": [w.value for w in watched], "after": after,
    }  # fmt: skip
    return await (await connection.execute(RECORD_IF_UNCHANGED, params)).fetchone() is not None
