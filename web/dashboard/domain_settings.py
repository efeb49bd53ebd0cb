"""Setting a project's preview domain (Fly previews at `{app}.{domain}`): a repository admin's
action, from the settings page only (previewd.toml cannot set it)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import update
from sqlmodel import col

from models import AuditEvent, Project
from models.common import utcnow
from models.preview_domains import normalize_domain
from web.dashboard.access import access_to
from web.dashboard.csrf import require_csrf
from web.dashboard.domain_rules import reserved_problem
from web.dashboard.settings_pages import settings_page_for
from web.dashboard.signed_in import UserDep
from web.deps import ServicesDep
from web.permissions import Action

changes = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@changes.post("/projects/{project_id}/domain")
async def save_domain(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    preview_domain: Annotated[str, Form()] = "",
) -> Response:
    access = await access_to(services, signed_in, project_id, Action.DOMAIN)
    project = access.project
    stored, problem = normalize_domain(preview_domain)
    if stored is not None:
        problem = reserved_problem(services.settings, stored)
    if problem is not None:
        shown = {"value": preview_domain, "error": f"Preview domain {problem}"}
        return await settings_page_for(request, services, project, domain=shown, status_code=422)
    async with services.db.session() as session:
        await session.execute(
            update(Project)
            .where(col(Project.id) == project.id)
            .values(preview_domain=stored, updated_at=utcnow())
        )
        session.add(
            AuditEvent(
                project_id=project.id,
                user_id=signed_in.user.id,
                actor=signed_in.user.login,
                action="set preview domain",
                detail={"preview_domain": stored},
            )
        )
        await session.commit()
    return RedirectResponse(f"/projects/{project.id}/settings?saved=1#domain", status_code=303)
