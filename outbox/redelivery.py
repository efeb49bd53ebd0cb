"""The redelivery scan's memory in Postgres: which failed attempts were already asked for again, how
many times per event, how far back the App's delivery log was examined, and which events reached us.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from models.redeliveries import ScanMark
from outbox.received import WATCHED

SCAN = "app_hook_deliveries"


async def examined_through(session: AsyncSession) -> datetime | None:
    mark = await session.get(ScanMark, SCAN)
    return mark.examined_through if mark else None


async def mark_examined(session: AsyncSession, through: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO scan_marks (name, examined_through) VALUES (:name, :at)"
            " ON CONFLICT (name) DO UPDATE SET examined_through = excluded.examined_through"
        ),
        {"name": SCAN, "at": through},
    )


async def received(session: AsyncSession, guids: Iterable[str]) -> set[str]:
    """Of these X-GitHub-Delivery values, those recorded in the outbox: they reached us (a 2xx GitHub
    did not see, say our answer was cut off, is no reason to send them again)."""
    rows = await session.execute(
        text("SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = ANY(:guids)"),
        {"guids": list(guids)},
    )
    return {str(row[0]) for row in rows}


async def asked(session: AsyncSession, guids: Iterable[str]) -> tuple[set[int], dict[str, int]]:
    """The attempts already asked for again, and how many asks each guid had."""
    rows = (
        await session.execute(
            text("SELECT github_delivery_id, guid FROM redelivery_requests WHERE guid = ANY(:guids)"),
            {"guids": list(guids)},
        )
    ).all()
    per_guid: dict[str, int] = {}
    for _, guid in rows:
        per_guid[str(guid)] = per_guid.get(str(guid), 0) + 1
    return {int(row[0]) for row in rows}, per_guid


async def record_decision(
    session: AsyncSession, *, github_delivery_id: int, guid: str, event: str, action: str | None,
    status: str, asked: bool = True, reason: str = "",
) -> None:  # fmt: skip
    await session.execute(
        text(
            "INSERT INTO redelivery_requests"
            " (github_delivery_id, guid, event, action, status, asked, reason, asked_at)"
            " VALUES (:id, :guid, :event, :action, :status, :asked, :reason, now()) ON CONFLICT DO NOTHING"
        ),
        {"id": github_delivery_id, "guid": guid[:100], "event": event[:50],
         "action": (action or None) and action[:50], "status": status[:200], "asked": asked,
         "reason": reason[:200]},
    )  # fmt: skip


# A row of the PR's (push or close) recorded after the failed attempt was made. GitHub's times are
# whole seconds: a row within the same second may have come before it, so only one a second later
# counts (a redelivery can then land behind an event of the same second, as GitHub's own order may).
LATER_EVENT = """
SELECT 1 FROM webhook_deliveries AS w JOIN projects AS p ON p.id = w.project_id
WHERE p.github_repo_id = :repo_id AND w.pr_number = :pr_number AND w.signal = ANY(:watched)
  AND w.received_at > CAST(:after AS timestamptz) + interval '1 second'
LIMIT 1
"""


async def later_event_received(
    session: AsyncSession, *, repo_id: int, pr_number: int, after: datetime
) -> bool:
    """Whether the PR had a push or close recorded after `after`: a redelivery of an earlier event
    would arrive behind it, out of order (an old head deployed over a newer one, a reopened PR
    closed). What such an event changed, the drift reconcile brings back in line."""
    row = await session.execute(
        text(LATER_EVENT),
        {"repo_id": repo_id, "pr_number": pr_number, "after": after,
         "watched": [w.value for w in WATCHED]},
    )  # fmt: skip
    return row.first() is not None
