"""The figures of the dashboard's Insights (web/dashboard/insights.py), per day over a window, for one
project or several: build time p50/p95 (the deployment's recorded step seconds, models/build_stats.py),
queue time (created → build started), builds that went live against builds that failed, and what each
preview ran (models/running_time.py) for the Fly cost estimate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deployments import Deployment
from models.running_time import ran_until

# Built and went live (whatever happened after), or built and failed. Superseded and skipped ones
# were not (fully) built: neither.
WENT_LIVE = ("active", "replaced", "destroyed", "expired")

DAILY = text(
    """
    WITH built AS (
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, status,
               extract(epoch FROM started_at - created_at) AS queued,
               (SELECT sum(value::float) FROM jsonb_each_text(build_stats -> 'seconds')) AS took
        FROM deployments
        WHERE project_id IN :ids AND created_at >= :since AND started_at IS NOT NULL
          AND status IN :finished
    )
    SELECT day,
           count(*) FILTER (WHERE status <> 'failed') AS live,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY took) AS build_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY took) AS build_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY queued) AS queue_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY queued) AS queue_p95
    FROM built GROUP BY day ORDER BY day
    """
).bindparams(bindparam("ids", expanding=True), bindparam("finished", expanding=True))


@dataclass(frozen=True)
class Day:
    day: date
    live: int
    failed: int
    build_p50: float | None
    build_p95: float | None
    queue_p50: float | None
    queue_p95: float | None

    @property
    def success_rate(self) -> float | None:
        total = self.live + self.failed
        return self.live / total if total else None


@dataclass(frozen=True)
class PreviewRun:
    """One deployment that ran: its PR, what it ran with, how long."""

    project_id: uuid.UUID
    pr_number: int
    effective_config: dict[str, Any] | None
    seconds: float


async def daily(session: AsyncSession, *, project_ids: list[uuid.UUID], since: datetime) -> list[Day]:
    if not project_ids:
        return []
    rows = (
        await session.execute(DAILY, {"ids": project_ids, "since": since, "finished": [*WENT_LIVE, "failed"]})
    ).all()
    return [Day(*row) for row in rows]


async def preview_runs(
    session: AsyncSession, *, project_ids: list[uuid.UUID], since: datetime, now: datetime
) -> list[PreviewRun]:
    if not project_ids:
        return []
    rows = (
        await session.exec(
            select(Deployment.project_id, Deployment.pr_number, Deployment.effective_config, ran_until(now))
            .where(col(Deployment.project_id).in_(project_ids), col(Deployment.created_at) >= since)
            .where((col(Deployment.running_seconds) > 0) | col(Deployment.running_since).is_not(None))
            .order_by(col(Deployment.created_at))
        )
    ).all()
    return [PreviewRun(*row) for row in rows]
