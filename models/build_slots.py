"""Each project's build queue: who builds now and who waits, first come first served.

A project builds at most `max_concurrent_builds` deployments at once, whatever the workers could take
(Netlify's and Vercel's build concurrency): one busy project then cannot fill every worker's build
slots while another project's pushes wait. A deployment takes its project's slot here *before* its
clone and build are scheduled on a worker, so one that waits holds no worker slot.

One row per deployment that asked. Rows of a project are granted in id order (FIFO) under the
project's advisory lock, so two asks at once can never both take the last slot. A row leaves when its
build ends (live, failed, skipped, superseded, cancelled); one whose workflow run is gone (terminated,
timed out, a crash that never cleaned up) is reclaimed by whoever asks next, so a slot never leaks.
Every write to this table goes through this module. Times are Postgres's own (`now()`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import optional_timestamp_field, timestamp_field
from models.deployments import Deployment
from models.locks import build_queue_key
from workflows.vocabulary import FINAL_STATUSES, DeploymentStatus

# A build that got this far is over, whatever its row here says.
OVER = [*FINAL_STATUSES, DeploymentStatus.ACTIVE]


class BuildSlot(SQLModel, table=True):
    __tablename__ = "build_slots"
    __table_args__ = (Index("ix_build_slots_project_id_id", "project_id", "id"),)

    # The queue's order within a project.
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    deployment_id: uuid.UUID = Field(
        sa_column=Column(
            PG_UUID(as_uuid=True),
            ForeignKey("deployments.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        )
    )
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    # The PR workflow's run that asked: gone (not running) means its slot is reclaimed.
    workflow_id: str = Field(sa_column=Column(Text, nullable=False))
    run_id: str = Field(sa_column=Column(Text, nullable=False))
    enqueued_at: datetime = timestamp_field()
    granted_at: datetime | None = optional_timestamp_field()
    # The last proof that its workflow runs: its own ask, or Temporal's word when another asker checked.
    seen_at: datetime = timestamp_field()


@dataclass
class Place:
    granted: bool
    # The project's builds running or waiting before this one (0 once granted).
    ahead: int = 0


@dataclass
class Holder:
    """A row whose workflow may need a word: to be checked for life, or told a slot is free."""

    deployment_id: uuid.UUID
    workflow_id: str
    run_id: str


async def _lock(session: AsyncSession, project_id: uuid.UUID) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": build_queue_key(project_id)})


async def take_or_queue(
    session: AsyncSession, *, project_id: uuid.UUID, deployment_id: uuid.UUID, workflow_id: str, run_id: str,
    limit: int,
) -> Place:  # fmt: skip
    """Enter the project's queue (once; asking again keeps the place) and take a slot if one is free
    for this row: fewer than `limit` rows granted or waiting before it."""
    await _lock(session, project_id)
    await session.execute(
        insert(BuildSlot)
        .values(
            deployment_id=deployment_id,
            project_id=project_id,
            workflow_id=workflow_id,
            run_id=run_id,
            enqueued_at=func.now(),
            seen_at=func.now(),
        )  # fmt: skip
        # The asking run proves itself; a reset workflow asks from a new run for the same deployment.
        .on_conflict_do_update(
            index_elements=["deployment_id"], set_={"seen_at": func.now(), "run_id": run_id}
        )
    )
    rows = (
        await session.execute(
            select(col(BuildSlot.deployment_id), col(BuildSlot.granted_at))
            .where(col(BuildSlot.project_id) == project_id)
            .order_by(col(BuildSlot.id))
        )
    ).all()
    granted = sum(1 for row in rows if row.granted_at is not None and row.deployment_id != deployment_id)
    ahead = granted
    for row in rows:
        if row.deployment_id == deployment_id:
            if row.granted_at is not None:
                await session.commit()
                return Place(granted=True)
            break
        if row.granted_at is None:
            ahead += 1
    if ahead < limit:
        await session.execute(
            update(BuildSlot)
            .where(col(BuildSlot.deployment_id) == deployment_id)
            .values(granted_at=func.now())
        )
        await session.commit()
        return Place(granted=True)
    await session.commit()
    return Place(granted=False, ahead=ahead)


async def leave(session: AsyncSession, *, deployment_id: uuid.UUID, wake: int) -> list[Holder]:
    """The deployment's build is over (or it stopped waiting): its row goes. When it held a slot, the
    first `wake` rows still waiting are returned, to be told at once rather than at their next ask."""
    project_id = (
        await session.execute(
            select(col(BuildSlot.project_id)).where(col(BuildSlot.deployment_id) == deployment_id)
        )
    ).scalar_one_or_none()
    if project_id is None:
        return []  # asked again (a retried activity), or reclaimed already
    await _lock(session, project_id)
    left = (
        await session.execute(
            delete(BuildSlot)
            .where(col(BuildSlot.deployment_id) == deployment_id)
            .returning(col(BuildSlot.granted_at))
        )
    ).first()
    waiting: list[Holder] = []
    if left is not None and left.granted_at is not None and wake > 0:
        waiting = await _waiting(session, project_id, wake)
    await session.commit()
    return waiting


async def _waiting(session: AsyncSession, project_id: uuid.UUID, count: int) -> list[Holder]:
    rows = (
        await session.execute(
            select(col(BuildSlot.deployment_id), col(BuildSlot.workflow_id), col(BuildSlot.run_id))
            .where(col(BuildSlot.project_id) == project_id, col(BuildSlot.granted_at).is_(None))
            .order_by(col(BuildSlot.id))
            .limit(count)
        )
    ).all()
    return [Holder(row.deployment_id, row.workflow_id, row.run_id) for row in rows]


async def unconfirmed(
    session: AsyncSession, *, project_id: uuid.UUID, besides: uuid.UUID, building_after: timedelta,
    waiting_after: timedelta, most: int,
) -> list[Holder]:  # fmt: skip
    """The project's other rows with no proof of life for long enough, longest silent first, at most
    `most` of them: their workflows are asked whether they still run. A building row never asks (it
    is doubted after `building_after`); a waiting one proves itself at each ask, so only one silent
    for longer than it waits between asks (`waiting_after`) is doubted: hundreds of live waiters
    cost no question to Temporal."""
    silent = func.now() - col(BuildSlot.seen_at)
    rows = (
        await session.execute(
            select(col(BuildSlot.deployment_id), col(BuildSlot.workflow_id), col(BuildSlot.run_id))
            .where(
                col(BuildSlot.project_id) == project_id,
                col(BuildSlot.deployment_id) != besides,
                or_(
                    and_(col(BuildSlot.granted_at).is_not(None), silent > building_after),
                    silent > waiting_after,
                ),
            )
            .order_by(col(BuildSlot.seen_at))
            .limit(most)
        )
    ).all()
    return [Holder(row.deployment_id, row.workflow_id, row.run_id) for row in rows]


async def confirm(session: AsyncSession, deployment_ids: list[uuid.UUID]) -> None:
    """Their workflows run: not asked about again for a while."""
    if deployment_ids:
        await session.execute(
            update(BuildSlot)
            .where(col(BuildSlot.deployment_id).in_(deployment_ids))
            .values(seen_at=func.now())
        )
        await session.commit()


async def reclaim(session: AsyncSession, *, project_id: uuid.UUID, gone: list[uuid.UUID]) -> int:
    """Rows whose workflow run is gone, and rows of builds that are over by their deployment's status
    (a release that never came): removed, their slots free. How many went."""
    await _lock(session, project_id)
    over = select(col(Deployment.id)).where(col(Deployment.status).in_(OVER))
    result = await session.execute(
        delete(BuildSlot).where(
            col(BuildSlot.project_id) == project_id,
            col(BuildSlot.deployment_id).in_(gone) | col(BuildSlot.deployment_id).in_(over),
        )
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def builds_ahead_text(count: int) -> str:
    """A waiting build's place, as the PR comment and the dashboard say it."""
    return f"{count} build{'' if count == 1 else 's'} ahead"


async def place_in_line(session: AsyncSession, deployment_id: uuid.UUID) -> int | None:
    """How many of its project's builds run or wait before this deployment's; None when it is not
    waiting (building, over, or it never queued). For the dashboard and the API."""
    mine = (
        await session.execute(
            select(col(BuildSlot.id), col(BuildSlot.project_id), col(BuildSlot.granted_at)).where(
                col(BuildSlot.deployment_id) == deployment_id
            )
        )
    ).first()
    if mine is None or mine.granted_at is not None:
        return None
    ahead = (
        await session.execute(
            select(func.count()).where(
                col(BuildSlot.project_id) == mine.project_id,
                col(BuildSlot.deployment_id) != deployment_id,
                col(BuildSlot.granted_at).is_not(None) | (col(BuildSlot.id) < mine.id),
            )
        )
    ).scalar_one()
    return int(ahead)
