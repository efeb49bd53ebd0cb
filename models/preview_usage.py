"""What previews are up now and how long they ran, per project: the live figures of /metrics
(runtime/metrics/postgres_figures.py) and of Insights' cost estimate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deployments import Deployment, DeploymentStatus, PreviewRoute
from models.running_time import ran_until


@dataclass(frozen=True)
class ProjectUsage:
    project_id: uuid.UUID
    live: int
    # Of the live ones, those asleep (local platform: process stopped until the next request).
    sleeping: int
    running_seconds: float


@dataclass(frozen=True)
class OutboxBacklog:
    queued: int
    oldest: datetime | None


async def usage_by_project(session: AsyncSession, now: datetime) -> list[ProjectUsage]:
    live = col(Deployment.status) == DeploymentStatus.ACTIVE
    rows = (
        await session.exec(
            select(
                Deployment.project_id,
                func.count().filter(live),
                func.count().filter(and_(live, col(PreviewRoute.asleep).is_(True))),
                func.coalesce(func.sum(ran_until(now)), 0.0),
            )
            .outerjoin(PreviewRoute, col(PreviewRoute.deployment_id) == col(Deployment.id))
            # Only deployments that ever ran: the rest add nothing.
            .where(or_(live, col(Deployment.running_seconds) > 0, col(Deployment.running_since).is_not(None)))
            .group_by(col(Deployment.project_id))
        )
    ).all()
    return [
        ProjectUsage(project_id=row[0], live=row[1], sleeping=row[2], running_seconds=float(row[3]))
        for row in rows
    ]


async def outbox_backlog(session: AsyncSession) -> OutboxBacklog:
    """Deliveries recorded and not yet handed to Temporal (the partial index makes this a lookup)."""
    row = (
        await session.execute(
            text("SELECT count(*), min(received_at) FROM webhook_deliveries WHERE outcome = 'queued'")
        )
    ).one()
    return OutboxBacklog(queued=int(row[0]), oldest=row[1])
