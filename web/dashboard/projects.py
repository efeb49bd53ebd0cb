"""Project page: open PRs with their live workflow state, deployment history, recent activity."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from models import Deployment
from models.dashboard_queries import project_activity, project_deployments
from models.deployments import DeploymentStatus
from models.queries import latest_deployment_per_pr
from web.dashboard.access import access_to
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import is_htmx, render
from web.deps import ServicesDep
from web.preview_workflows import pr_states, running_prs
from workflows.signals import PreviewState, workflow_id_for
from workflows.vocabulary import Phase

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
    access = await access_to(services, signed_in, project_id)
    project = access.project
    async with services.db.session() as session:
        history = await project_deployments(session, project_id=project_id, page=page, per_page=PER_PAGE)
        activity = [] if is_htmx(request) else await project_activity(session, project_id=project_id)
    context = {"project": project, "history": history, "activity": activity, "access": access}
    return render(request, "_history.html" if is_htmx(request) else "project.html", context)


IN_FLIGHT = {
    DeploymentStatus.PENDING,
    DeploymentStatus.BUILDING,
    DeploymentStatus.DEPLOYING,
    DeploymentStatus.ACTIVE,
}


@router.get("/projects/{project_id}/pulls")
async def project_pulls(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    """The open PRs, polled by the project page. Temporal says which PRs are open (their workflow
    runs) and where each is now; Postgres adds each one's newest deployment."""
    access = await access_to(services, signed_in, project_id)
    project = access.project
    async with services.db.session() as session:
        latest = {d.pr_number: d for d in await latest_deployment_per_pr(session, project_id=project_id)}
    running = await running_prs(services, project_id)
    # Visibility lags a moment behind a new workflow: a deployment in flight counts as open too.
    numbers = {n for n, d in latest.items() if d.status in IN_FLIGHT}
    numbers |= (
        running
        if running is not None
        # Temporal cannot tell: only a deployment that is building or live marks an open PR (a closed
        # PR's failed or superseded deployments are never marked destroyed).
        else {n for n, d in latest.items() if d.status == DeploymentStatus.ACTIVE}
    )
    ordered = sorted(numbers, reverse=True)
    states = await pr_states(services, project_id, ordered)
    settings = services.settings
    ui = f"{settings.previewd_temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
    pulls = [pull_view(n, latest.get(n), states.get(n), workflow_id_for(str(project_id), n)) for n in ordered]
    # A closed PR's workflow answers with phase "closed" until it ends: it is not open any more.
    pulls = [p for p in pulls if p["phase"] != Phase.CLOSED]
    context = {"project": project, "pulls": pulls, "temporal_ui": ui, "access": access}
    return render(request, "_pulls.html", context)


def pull_view(
    number: int, deployment: Deployment | None, state: PreviewState | None, workflow_id: str
) -> dict[str, Any]:
    push = (state.desired or state.last_push) if state else None
    return {
        "number": number,
        "deployment": deployment,
        "state": state,
        "workflow_id": workflow_id,
        "phase": state.phase if state else (deployment.status if deployment else "unknown"),
        "title": deployment.pr_title if deployment else (push.title if push else ""),
        "author": deployment.pr_author if deployment else (push.author if push else ""),
        "sha": (state.deployed_sha if state and state.deployed_sha else None)
        or (deployment.commit_sha if deployment else (push.sha if push else "")),
        "waiting_sha": state.desired.sha if state and state.desired else "",
    }
