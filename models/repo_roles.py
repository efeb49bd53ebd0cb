"""The short-lived cache of each user's role per repository (`repo_roles`). Session first."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import utcnow
from models.users import RepoRole


async def cached_role(
    session: AsyncSession, *, user_id: uuid.UUID, repo_id: int, max_age: timedelta
) -> int | None:
    """The role GitHub told within `max_age`, or None (never asked, or too long ago)."""
    row = (
        await session.exec(
            select(RepoRole).where(
                RepoRole.user_id == user_id,
                RepoRole.github_repo_id == repo_id,
                col(RepoRole.checked_at) > utcnow() - max_age,
            )
        )
    ).first()
    return row.role if row else None


async def store_roles(session: AsyncSession, *, user_id: uuid.UUID, roles: Mapping[int, int]) -> None:
    now = utcnow()
    for repo_id, role in roles.items():
        statement = insert(RepoRole).values(
            user_id=user_id, github_repo_id=repo_id, role=role, checked_at=now
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "github_repo_id"], set_={"role": role, "checked_at": now}
            )
        )
    await session.commit()
