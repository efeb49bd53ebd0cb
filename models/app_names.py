"""Preview app names, allocated once per (platform, project, PR) under a unique index.

Fly app names are global and local ones are hosts under one domain, so "acme/My.App", "evil/my-app"
and "evil/my_app" all want `pr-1-my-app`. Whoever inserts the plain name first holds it; everyone
else gets it with a short hash of their project. The index decides, not a read before the write: two
first deploys at once cannot both take the same name.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import timestamp_field


class AppName(SQLModel, table=True):
    __tablename__ = "app_names"
    __table_args__ = (UniqueConstraint("platform", "project_id", "pr_number"),)

    platform: str = Field(primary_key=True, max_length=16)
    name: str = Field(primary_key=True, max_length=63)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE", index=True)
    pr_number: int
    created_at: datetime = timestamp_field()


async def allocated_name(
    session: AsyncSession, *, platform: str, project_id: uuid.UUID, pr_number: int
) -> str | None:
    found = await session.exec(
        select(AppName.name).where(
            AppName.platform == platform, AppName.project_id == project_id, AppName.pr_number == pr_number
        )
    )
    return found.first()


async def allocate_name(
    session: AsyncSession, *, platform: str, project_id: uuid.UUID, pr_number: int, candidates: list[str]
) -> str | None:
    """The PR's name: the one it already holds, else the first of `candidates` nobody holds, taken in
    the same statement that checks it (ON CONFLICT DO NOTHING on either unique index). None when every
    candidate is held by others."""
    for name in candidates:
        held = await allocated_name(session, platform=platform, project_id=project_id, pr_number=pr_number)
        if held is not None:
            return held
        await session.execute(
            pg_insert(AppName)
            .values(platform=platform, name=name, project_id=project_id, pr_number=pr_number)
            .on_conflict_do_nothing()
        )
        await session.commit()
    return await allocated_name(session, platform=platform, project_id=project_id, pr_number=pr_number)


async def owner_of(session: AsyncSession, *, platform: str, name: str) -> tuple[uuid.UUID, int] | None:
    """The project and PR a name was allocated to on `platform`, or None."""
    row = await session.get(AppName, (platform, name))
    return (row.project_id, row.pr_number) if row else None
