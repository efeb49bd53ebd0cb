"""Project page: open PRs with their live workflow state, deployment history, recent activity."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from models.dashboard_queries import project_activity, project_deployments
from models.deployments import DeploymentStatus
from models.queries import latest_deployment_per_pr
from web.dashboard.access import project_for
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import is_htmx, render
from web.dashboard.workflows import pr_states
from web.deps import ServicesDep
from workflows.signals import workflow_id_for

router = APIRouter(include_in_schema=False)
PER_PAGE = 20


@router.get("/projects/{project_id}")
async def project_page(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    page: int = Query(default=1, ge=1, le=10_000),
) -> Response:
    project = await project_for(services, signed_in, project_id)
    async with services.db.session() as session:
        history = await project_deployments(session, project_id=project_id, page=page, per_page=PER_PAGE)
        activity = [] if is_htmx(request) else await project_activity(session, project_id=project_id)
    context = {"project": project, "history": history, "activity": activity}
    return render(request, "_history.html" if is_htmx(request) else "project.html", context)


@router.get("/projects/{project_id}/pulls")
async def project_pulls(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    """The open PRs, polled by the project page: Postgres says which, Temporal says where each is now."""
    project = await project_for(services, signed_in, project_id)
    async with services.db.session() as session:
        latest = await latest_deployment_per_pr(session, project_id=project_id)
    open_prs = [d for d in latest if d.status != DeploymentStatus.DESTROYED]
    states = await pr_states(services, project_id, [d.pr_number for d in open_prs])
    settings = services.settings
    ui = f"{settings.previewd_temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
    pulls = [
        {
            "deployment": d,
            "state": states.get(d.pr_number),
            "workflow_id": workflow_id_for(str(project_id), d.pr_number),
        }
        for d in open_prs
    ]
    # A closed PR's workflow answers with phase "closed": it is not open any more.
    pulls = [p for p in pulls if p["state"] is None or p["state"].phase != "closed"]  # type: ignore[union-attr]
    return render(request, "_pulls.html", {"project": project, "pulls": pulls, "temporal_ui": ui})
