"""What previewd received for each PR of a project: the drift reconcile's side of the comparison.

Read from the outbox (every push and close, from webhooks, the dashboard or an earlier reconcile),
never from the workflows: a preview someone destroyed, or that expired, still had its push received,
so an unchanged head is no reason to bring it back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deliveries import DeliveryOutcome
from outbox.intents import Intent

# Rows that say whether a PR is open as far as previewd knows.
WATCHED = [Intent.PUSH, Intent.CLOSE, Intent.CLOSE_IF_RUNNING]

RECEIVED = """
SELECT pr_number,
       max(id) AS last_id,
       max(id) FILTER (WHERE signal = :push) AS push_id,
       (array_agg(signal_args ->> 'sha' ORDER BY id DESC) FILTER (WHERE signal = :push))[1] AS sha,
       (array_agg(signal_args ->> 'updated_at' ORDER BY id DESC) FILTER (WHERE signal = :push))[1]
           AS updated_at,
       max(id) FILTER (WHERE signal <> :push) AS close_id,
       count(*) FILTER (WHERE outcome = :queued) AS queued
FROM webhook_deliveries
WHERE project_id = :project AND pr_number IS NOT NULL AND signal = ANY(:watched)
GROUP BY pr_number
"""


@dataclass(frozen=True)
class Received:
    pr_number: int
    # The PR's newest push or close row: a reconcile's decision holds only while it still is.
    last_id: int
    push_id: int | None
    sha: str | None
    # pull_request.updated_at of the last push, when it said.
    updated_at: str
    close_id: int | None
    # Rows not yet handed to their workflow (a run that is about to start is not missing).
    queued: int = 0

    @property
    def open(self) -> bool:
        """Whether the last thing received was a push (not a close after it)."""
        return self.push_id is not None and (self.close_id is None or self.push_id > self.close_id)


async def received_per_pr(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Received]:
    rows = await session.execute(
        text(RECEIVED),
        {
            "project": project_id,
            "push": Intent.PUSH.value,
            "watched": [w.value for w in WATCHED],
            "queued": DeliveryOutcome.QUEUED.value,
        },  # fmt: skip
    )
    return {
        str(row.pr_number): Received(
            pr_number=int(row.pr_number),
            last_id=int(row.last_id),
            push_id=row.push_id,
            sha=row.sha,
            updated_at=str(row.updated_at or ""),
            close_id=row.close_id,
            queued=int(row.queued),
        )  # fmt: skip
        for row in rows
    }
