"""The dashboard's reads. Each is one indexed query; bench/dashboard.py times them on 10,000
deployments. Session first, keyword-only, like models/queries.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEvent
from models.deployments import Deployment, DeploymentLog, DeploymentStatus


@dataclass
class Page:
    rows: list[Deployment]
    page: int
    has_next: bool


async def recent_deployments(
    session: AsyncSession, *, project_ids: Sequence[uuid.UUID] | None, page: int, per_page: int
) -> Page:
    """Newest first across projects (`ix_deployments_created`); None means every project."""
    query = select(Deployment).order_by(col(Deployment.created_at).desc(), col(Deployment.id).desc())
    if project_ids is not None:
        query = query.where(col(Deployment.project_id).in_(project_ids))
    rows = list((await session.exec(query.offset((page - 1) * per_page).limit(per_page + 1))).all())
    return Page(rows[:per_page], page, len(rows) > per_page)


async def project_deployments(
    session: AsyncSession, *, project_id: uuid.UUID, page: int, per_page: int
) -> Page:
    rows = list(
        (
            await session.exec(
                select(Deployment)
                .where(Deployment.project_id == project_id)
                .order_by(col(Deployment.created_at).desc(), col(Deployment.id).desc())
                .offset((page - 1) * per_page)
                .limit(per_page + 1)
            )
        ).all()
    )
    return Page(rows[:per_page], page, len(rows) > per_page)


async def live_previews(
    session: AsyncSession, *, project_ids: Sequence[uuid.UUID] | None
) -> list[Deployment]:
    """Deployments that are live now."""
    query = (
        select(Deployment)
        .where(Deployment.status == DeploymentStatus.ACTIVE)
        .order_by(col(Deployment.pr_number).desc())
    )
    if project_ids is not None:
        query = query.where(col(Deployment.project_id).in_(project_ids))
    return list((await session.exec(query)).all())


async def project_activity(
    session: AsyncSession, *, project_id: uuid.UUID, limit: int = 20
) -> list[AuditEvent]:
    return list(
        (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.project_id == project_id)
                .order_by(col(AuditEvent.created_at).desc())
                .limit(limit)
            )
        ).all()
    )


def _log_filter(query, type_: str | None, level: str | None):  # type: ignore[no-untyped-def]
    if type_:
        query = query.where(DeploymentLog.type == type_)
    if level:
        query = query.where(DeploymentLog.level == level)
    return query


async def log_tail(
    session: AsyncSession, *, deployment_id: uuid.UUID, limit: int, type_: str | None, level: str | None
) -> list[DeploymentLog]:
    """The newest `limit` lines (oldest first): the log opens at its tail, never all of it."""
    query = _log_filter(
        select(DeploymentLog).where(DeploymentLog.deployment_id == deployment_id), type_, level
    )
    rows = list((await session.exec(query.order_by(col(DeploymentLog.id).desc()).limit(limit))).all())
    rows.reverse()
    return rows


async def log_before(
    session: AsyncSession,
    *,
    deployment_id: uuid.UUID,
    before: int,
    limit: int,
    type_: str | None,
    level: str | None,
) -> list[DeploymentLog]:
    query = _log_filter(
        select(DeploymentLog).where(
            DeploymentLog.deployment_id == deployment_id, col(DeploymentLog.id) < before
        ),
        type_,
        level,
    )
    rows = list((await session.exec(query.order_by(col(DeploymentLog.id).desc()).limit(limit))).all())
    rows.reverse()
    return rows
