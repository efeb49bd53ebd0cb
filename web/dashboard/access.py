"""Who may see which project and do what on it, checked on every request.

Local mode: the signed-in user may do everything. GitHub mode: what their role on the project's
repository allows (web/permissions.py), read with their own token from
`GET /user/installations/{id}/repositories` (each repository's `permissions`) and kept a few minutes
(web/roles.py); a project without an installation only to the user who created it. A project they
may not see is 404, so its existence is not given away; an action their role does not reach is 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
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
from web.permissions import NEEDS, Action, Role, may, role_from_permissions
from web.roles import GitHubSilent, role_on

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


@dataclass
class ProjectAccess:
    project: Project
    role: Role

    def may(self, action: Action) -> bool:
        return may(self.role, action)


async def role_for(services: Services, signed_in: SignedIn, project: Project) -> Role:
    async def fetch() -> Mapping[int, Role]:
        token = github_token_of(services, signed_in)
        if token is None or project.github_installation_id is None:
            return {}
        try:
            async with GitHubUserApi(services.settings.github_api_url, token) as api:
                repositories = await api.repositories(project.github_installation_id)
        except GitHubUserError as error:
            if error.status == 401:
                async with services.db.session() as session:
                    await close_session(session, sid=signed_in.sid)
                raise NotSignedIn() from None
            if error.status in (403, 404):
                return {}  # the installation is out of their reach
            raise GitHubSilent() from None
        # Only repositories they hold an explicit role on are listed: the rest are none.
        return {int(r["id"]): role_from_permissions(r.get("permissions") or {}) for r in repositories}

    return await role_on(services, signed_in.user, project, fetch)


async def visible_projects(services: Services, signed_in: SignedIn) -> list[Project]:
    installations = await reachable_installations(services, signed_in)
    query = select(Project).order_by(col(Project.github_repo_full_name))
    if installations is not None:
        query = query.where(_visible(installations, signed_in))
    async with services.db.session() as session:
        projects = list((await session.exec(query)).all())
    visible = [ProjectAccess(p, await role_for(services, signed_in, p)) for p in projects]
    return [access.project for access in visible if access.may(Action.VIEW)]


async def access_to(
    services: Services, signed_in: SignedIn, project_id: uuid.UUID, action: Action = Action.VIEW
) -> ProjectAccess:
    """The project and the user's role on it: 404 whether it is missing or theirs to not even see,
    403 when they see it but their role does not reach `action`."""
    async with services.db.session() as session:
        project = await session.get(Project, project_id)
    if project is None:
        raise HTTPException(404, "Project not found")
    access = ProjectAccess(project, await role_for(services, signed_in, project))
    if not access.may(Action.VIEW):
        raise HTTPException(404, "Project not found")
    if not access.may(action):
        raise HTTPException(
            403,
            f"To {action} on {project.github_repo_full_name} you need the {NEEDS[action].name.lower()} "
            f"role on its GitHub repository; you have {access.role.name.lower()}.",
        )
    return access


async def project_for(
    services: Services, signed_in: SignedIn, project_id: uuid.UUID, action: Action = Action.VIEW
) -> Project:
    return (await access_to(services, signed_in, project_id, action)).project
