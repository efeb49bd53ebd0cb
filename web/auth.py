"""Bearer tokens for /api: the dependency that turns `Authorization: Bearer …` into its holder, and
the per-project check every route makes with it (the same roles as the dashboard, capped by the
token's scope)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import Project, User
from models.api_tokens import holder_of
from models.queries import is_operator
from web.api_roles import token_role
from web.deps import Services, ServicesDep
from web.permissions import NEEDS, Action, Role, Scope, may, within_scope

bearer = HTTPBearer(auto_error=False)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass
class Caller:
    user: User
    scope: Scope

    @property
    def operator(self) -> bool:
        return is_operator(self.user)


async def current_caller(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "an API token is required: Authorization: Bearer <token>", CHALLENGE)
    async with services.db.session() as session:
        found = await holder_of(session, token=credentials.credentials)
    if found is None:
        raise HTTPException(401, "unknown, expired or revoked API token", CHALLENGE)
    user, row = found
    return Caller(user=user, scope=Scope(row.scope))


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def role_of(services: Services, caller: Caller, project: Project) -> Role:
    return within_scope(await token_role(services, caller.user, project), caller.scope)


async def project_as(
    services: Services, caller: Caller, project_id: uuid.UUID, action: Action = Action.VIEW
) -> Project:
    """404 for a project the token's user may not see; 403 for an action beyond the token's scope or
    the user's role."""
    async with services.db.session() as session:
        project = await session.get(Project, project_id)
    if project is None:
        raise HTTPException(404, "project not found")
    role = await role_of(services, caller, project)
    if not may(role, Action.VIEW):
        raise HTTPException(404, "project not found")
    if not may(role, action):
        raise HTTPException(
            403,
            f"{action} needs {NEEDS[action].name.lower()}; this token (scope {caller.scope}) "
            f"has {role.name.lower()} on {project.github_repo_full_name}",
        )
    return project
