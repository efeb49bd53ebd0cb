"""Keyword-only data helpers shared by the API, the CLI and the demo. Session first."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deployments import Deployment, DeploymentLog
from models.locks import deployment_log_key
from models.projects import DeploymentConfig, Project
from models.users import User

# The CLI's operator is found by what a GitHub user never has (is_admin, no GitHub id), not by a login:
# a GitHub user may be called "admin". Its login has a character GitHub logins cannot hold, so a GitHub
# sign-in never has to take it over.
LOCAL_ADMIN_LOGIN = "admin (local)"


def local_repo_id(full_name: str) -> int:
    """A stable id for a repository that is not on GitHub (negative, so it never meets a real one)."""
    return -int(hashlib.sha256(full_name.encode()).hexdigest()[:12], 16)


def is_operator(user: User) -> bool:
    return user.is_admin and user.github_id is None


async def ensure_admin(session: AsyncSession) -> User:
    """The CLI's operator: every project, every action (it holds the host and its database anyway)."""
    user = (
        await session.exec(
            select(User)
            .where(col(User.is_admin).is_(True), col(User.github_id).is_(None))
            .order_by(col(User.created_at))
        )
    ).first()
    if user is None:
        user = User(login=LOCAL_ADMIN_LOGIN, name="Local admin", is_admin=True)
        session.add(user)
        await session.commit()
        await session.refresh(user)
    return user


async def create_project(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    repo_full_name: str,
    config: DeploymentConfig,
    repo_id: int | None = None,
    installation_id: int | None = None,
) -> Project:
    project = Project(
        user_id=user_id,
        github_repo_id=repo_id if repo_id is not None else local_repo_id(repo_full_name),
        github_repo_full_name=repo_full_name,
        github_installation_id=installation_id,
        deployment_config=config.model_dump(mode="json", exclude_none=True),
    )
    session.add(project)
    await session.commit()
    await session.refresh(project)
    return project


async def latest_deployment_per_pr(session: AsyncSession, *, project_id: uuid.UUID) -> Sequence[Deployment]:
    """Each PR's newest deployment, newest PR first (Postgres DISTINCT ON: one row per PR, no ties)."""
    rows = await session.exec(
        select(Deployment)
        .where(Deployment.project_id == project_id)
        .distinct(col(Deployment.pr_number))
        .order_by(col(Deployment.pr_number).desc(), col(Deployment.created_at).desc(), col(Deployment.id))
    )
    return rows.all()


async def logs_after(
    session: AsyncSession, *, deployment_id: uuid.UUID, after: int, limit: int
) -> Sequence[DeploymentLog]:
    rows = await session.exec(
        select(DeploymentLog)
        .where(DeploymentLog.deployment_id == deployment_id, col(DeploymentLog.id) > after)
        .order_by(col(DeploymentLog.id))
        .limit(limit)
    )
    return rows.all()


# Log line ids come from one sequence, taken when a row is inserted; writers of the same deployment's
# log (build output, runtime output, status lines) take this lock first, so their transactions commit in
# id order and a reader that follows the log by id (`logs_after`) never steps over a line committed late.
async def lock_log_order(session: AsyncSession, deployment_ids: Iterable[uuid.UUID]) -> None:
    """Held until the transaction ends; several ids are locked in one order, so writers never deadlock."""
    for key in sorted({deployment_log_key(deployment_id) for deployment_id in deployment_ids}):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
