"""A person's role on a project's repository, as GitHub says, kept a few minutes (`repo_roles`).

Single-user (local) mode: the one signed-in user may do everything. The CLI's operator may do
everything in either mode. A project without an installation belongs to whoever created it. Otherwise
GitHub is asked: the dashboard asks with the person's own token (one call lists their role on every
repository of the installation), the API with the App's (a token is used without its user's
OAuth session, see web/api_roles.py). An answer is kept for CACHE, so a role lowered on GitHub takes
effect within that; when GitHub does not answer and nothing recent is known, the request fails (503)
rather than guess.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from fastapi import HTTPException

from models import Project, User
from models.queries import is_operator
from models.repo_roles import cached_role, store_roles
from web.deps import Services
from web.permissions import Role

CACHE = timedelta(minutes=3)
# Asks GitHub; answers {repository id: role} (every repository it learnt about, at least the one asked).
Fetch = Callable[[], Awaitable[Mapping[int, Role]]]


class GitHubSilent(Exception):
    """GitHub did not answer whom a role is: the caller answers 503."""


async def role_on(services: Services, user: User, project: Project, fetch: Fetch) -> Role:
    if not services.settings.github_sign_in or is_operator(user):
        return Role.ADMIN
    if project.github_installation_id is None:
        return Role.ADMIN if project.user_id == user.id else Role.NONE
    async with services.db.session() as session:
        known = await cached_role(session, user_id=user.id, repo_id=project.github_repo_id, max_age=CACHE)
    if known is not None:
        return Role(known)
    try:
        roles = dict(await fetch())
    except GitHubSilent:
        raise HTTPException(
            503, "GitHub did not say what you may do on this repository; try again in a moment"
        ) from None
    roles.setdefault(project.github_repo_id, Role.NONE)
    async with services.db.session() as session:
        await store_roles(session, user_id=user.id, roles={k: int(v) for k, v in roles.items()})
    return roles[project.github_repo_id]
