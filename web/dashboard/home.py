"""Home: the user's projects with their live previews, and recent deployments across projects."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from models import Deployment
from models.dashboard_queries import live_previews, recent_deployments
from web.dashboard.access import visible_projects
from web.dashboard.settings_pages import DELETED_NOTICE
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import is_htmx, render
from web.deps import ServicesDep

router = APIRouter(include_in_schema=False)
PER_PAGE = 20
FRAGMENTS = {"recent": "_recent.html", "projects": "_projects.html"}


@router.get("/")
async def home(
    request: Request,
    services: ServicesDep,
    signed_in: UserDep,
    page: int = Query(default=1, ge=1, le=10_000),
    part: Literal["recent", "projects"] = "recent",
) -> Response:
    """The full page, or (for htmx's polling) the one part asked for."""
    projects = await visible_projects(services, signed_in)
    ids = [project.id for project in projects]
    fragment = FRAGMENTS[part] if is_htmx(request) else None
    async with services.db.session() as session:
        recent = None
        if fragment != "_projects.html":
            recent = await recent_deployments(session, project_ids=ids, page=page, per_page=PER_PAGE)
        live = [] if fragment == "_recent.html" else await live_previews(session, project_ids=ids)
    live_by_project: dict[uuid.UUID, list[Deployment]] = {}
    for deployment in live:
        live_by_project.setdefault(deployment.project_id, []).append(deployment)
    context = {
        "projects": projects,
        "names": {project.id: project.github_repo_full_name for project in projects},
        "recent": recent,
        "live": live_by_project,
        "deleted": None if fragment else request.session.pop(DELETED_NOTICE, None),
    }
    return render(request, fragment or "home.html", context)
