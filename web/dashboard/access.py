"""Who may see which project, checked on every request.

Local mode: the signed-in user sees every project. GitHub mode: a project is visible when its
installation is among those the user reaches through GitHub (`GET /user/installations` with their
token, cached on the session for a few minutes); a project without an installation only to the
user who created it. Anything else is 404, so a project's existence is not given away.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import HTTPException
from sqlalchemy import update
from sqlmodel import col, or_, select

from models import Project, WebSession
from models.common import utcnow
from models.sign_in import close_session
from web.dashboard.github_user_api import GitHubUserApi, GitHubUserError
from web.dashboard.signed_in import NotSignedIn, SignedIn
from web.deps import Services

CACHE = timedelta(minutes=3)
STALE_LIMIT = timedelta(minutes=30)


def github_token_of(services: Services, signed_in: SignedIn) -> str | None:
    row = signed_in.web_session
    if row.github_token is None or row.github_token_key_id is None:
        return None
    return services.keyring.decrypt(
        row.github_token, row.github_token_key_id, associated=f"github-token/{signed_in.user.id}"
    )


def seal_github_token(services: Services, user_id: uuid.UUID, token: str) -> tuple[bytes, str]:
    return services.keyring.encrypt(token, associated=f"github-token/{user_id}")


async def reachable_installations(
    services: Services, signed_in: SignedIn, *, fresh: bool = False
) -> set[int] | None:
    """None means every project (local mode); otherwise the installation ids this user reaches."""
    if not services.settings.github_sign_in:
        return None
    row = signed_in.web_session
    checked = row.installations_checked_at
    if not fresh and row.installation_ids is not None and checked and utcnow() - checked < CACHE:
        return {int(i) for i in row.installation_ids}
    token = github_token_of(services, signed_in)
    if token is None:
        return set()
    try:
        async with GitHubUserApi(services.settings.github_api_url, token) as api:
            ids = sorted(int(item["id"]) for item in await api.installations())
    except GitHubUserError as error:
        if error.status == 401:
            # The user revoked our access on GitHub: the session is worth nothing any more.
            async with services.db.session() as session:
                await close_session(session, sid=signed_in.sid)
            raise NotSignedIn() from None
        # GitHub is down: keep serving what was reachable a moment ago rather than nothing, but not
        # for long: someone removed from an installation must not keep access through an outage.
        if checked is not None and utcnow() - checked < STALE_LIMIT:
            return {int(i) for i in row.installation_ids or []}
        return set()
    async with services.db.session() as session:
        await session.execute(
            update(WebSession)
            .where(col(WebSession.id_sha256) == row.id_sha256)
            .values(installation_ids=ids, installations_checked_at=utcnow())
        )
        await session.commit()
    row.installation_ids, row.installations_checked_at = list(ids), utcnow()
    return set(ids)


def _visible(installations: set[int], signed_in: SignedIn):  # type: ignore[no-untyped-def]
    return or_(
        col(Project.github_installation_id).in_(installations),
        (col(Project.github_installation_id).is_(None)) & (col(Project.user_id) == signed_in.user.id),
    )


async def visible_projects(services: Services, signed_in: SignedIn) -> list[Project]:
    installations = await reachable_installations(services, signed_in)
    query = select(Project).order_by(col(Project.github_repo_full_name))
    if installations is not None:
        query = query.where(_visible(installations, signed_in))
    async with services.db.session() as session:
        return list((await session.exec(query)).all())


async def project_for(services: Services, signed_in: SignedIn, project_id: uuid.UUID) -> Project:
    """The project if this user may see it; 404 whether it is missing or someone else's."""
    async with services.db.session() as session:
        project = await session.get(Project, project_id)
    if project is None or not await may_see(services, signed_in, project):
        raise HTTPException(404, "Project not found")
    return project


async def may_see(services: Services, signed_in: SignedIn, project: Project) -> bool:
    installations = await reachable_installations(services, signed_in)
    if installations is None:
        return True
    if project.github_installation_id is None:
        return project.user_id == signed_in.user.id
    return project.github_installation_id in installations
