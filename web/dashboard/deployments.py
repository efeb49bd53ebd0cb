"""Deployment page: status timeline, commit, URL, error, and its log (tail first, earlier on demand)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from models import AuditEvent, Deployment, Project
from models.common import utcnow
from models.dashboard_queries import log_before, log_tail
from models.deployments import FINAL_STATUSES, DeploymentStatus
from web.dashboard.access import project_for
from web.dashboard.signed_in import SignedIn, UserDep
from web.dashboard.templating import is_htmx, render
from web.deps import Services, ServicesDep

router = APIRouter(include_in_schema=False)
TAIL = 500
# "" is "all": what the filter form's first option sends.
TypeFilter = Annotated[Literal["", "build", "deploy", "runtime"], Query(alias="type")]
LevelFilter = Annotated[Literal["", "info", "warning", "error"], Query()]


async def deployment_for(
    services: Services, signed_in: SignedIn, deployment_id: uuid.UUID
) -> tuple[Deployment, Project]:
    async with services.db.session() as session:
        deployment = await session.get(Deployment, deployment_id)
    if deployment is None:
        raise HTTPException(404, "Deployment not found")
    return deployment, await project_for(services, signed_in, deployment.project_id)


FINAL_LABELS: dict[str, str] = {
    DeploymentStatus.FAILED: "Failed",
    DeploymentStatus.DESTROYED: "Destroyed",
    DeploymentStatus.SUPERSEDED: "Superseded by a newer push",
    DeploymentStatus.REPLACED: "Replaced by a newer commit",
    DeploymentStatus.SKIPPED: "Skipped: no watched path changed",
}


def config_rows(record: dict[str, Any] | None) -> list[dict[str, str]]:
    """The effective config recorded with the deployment, one row per value with where it came from."""
    if not record or not isinstance(record.get("config"), dict):
        return []
    sources = record.get("sources") or {}
    rows = []
    for name, value in sorted(record["config"].items()):
        shown = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
        rows.append({"name": name, "value": "—" if value in (None, "", [], {}) else shown,
                     "source": str(sources.get(name, "default"))})  # fmt: skip
    return rows


def timeline(deployment: Deployment, events: list[AuditEvent]) -> list[dict[str, object]]:
    """What happened to this deployment, oldest first. `completed_at` is when it went live, failed
    or was destroyed; a replaced one keeps its live time there, and was replaced at `updated_at`."""
    status = deployment.status
    steps: list[dict[str, object]] = [
        {"label": "Queued", "at": deployment.created_at, "tone": DeploymentStatus.PENDING}
    ]
    if deployment.started_at:
        steps.append(
            {"label": "Build started", "at": deployment.started_at, "tone": DeploymentStatus.BUILDING}
        )
    steps += [
        {
            "label": f"{e.action.capitalize()} requested by {e.actor}",
            "at": e.created_at,
            "tone": DeploymentStatus.PENDING,
        }
        for e in events
    ]
    live = DeploymentStatus.ACTIVE
    if status == live and deployment.completed_at:
        steps.append({"label": "Live", "at": deployment.completed_at, "tone": live})
    elif status == DeploymentStatus.REPLACED:
        if deployment.completed_at:
            steps.append({"label": "Live", "at": deployment.completed_at, "tone": live})
        steps.append({"label": FINAL_LABELS[status], "at": deployment.updated_at, "tone": status})
    elif status in FINAL_LABELS:
        steps.append(
            {
                "label": FINAL_LABELS[status],
                "at": deployment.completed_at or deployment.updated_at,
                "tone": status,
            }
        )
    elif status != DeploymentStatus.PENDING:
        steps.append({"label": status.capitalize() + "…", "at": deployment.updated_at, "tone": status})
    return sorted(steps, key=lambda step: step["at"])  # type: ignore[arg-type, return-value]


@router.get("/deployments/{deployment_id}")
async def deployment_page(
    request: Request, deployment_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    deployment, project = await deployment_for(services, signed_in, deployment_id)
    final = deployment.status in FINAL_STATUSES
    async with services.db.session() as session:
        events = list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(
                        AuditEvent.project_id == project.id,
                        AuditEvent.pr_number == deployment.pr_number,
                        col(AuditEvent.created_at) >= deployment.created_at,
                        # Only what happened while this was the PR's deployment.
                        col(AuditEvent.created_at) <= (deployment.updated_at if final else utcnow()),
                    )
                    .order_by(col(AuditEvent.created_at))
                    .limit(20)
                )
            ).all()
        )
    context = {
        "deployment": deployment,
        "project": project,
        "steps": timeline(deployment, events),
        "config_rows": config_rows(deployment.effective_config),
        "final": final,
    }
    # The status card polls this URL; htmx gets the card alone.
    return render(request, "_deployment_status.html" if is_htmx(request) else "deployment.html", context)


@router.get("/deployments/{deployment_id}/logs")
async def deployment_logs(
    request: Request,
    deployment_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    type_: TypeFilter = "",
    level: LevelFilter = "",
    before: int | None = Query(default=None, ge=1),
) -> Response:
    """Without `before`: the log panel for these filters (its tail and a live stream after it).
    With `before`: the page of lines just before that id, for "Show earlier lines"."""
    deployment, _ = await deployment_for(services, signed_in, deployment_id)
    filters = {"type": type_ or None, "level": level or None}
    async with services.db.session() as session:
        if before is not None:
            lines = await log_before(
                session,
                deployment_id=deployment_id,
                before=before,
                limit=TAIL,
                type_=filters["type"],
                level=filters["level"],
            )
            return render(
                request,
                "_log_earlier.html",
                {"lines": lines, "deployment": deployment, "filters": filters, "page": TAIL},
            )
        lines = await log_tail(
            session, deployment_id=deployment_id, limit=TAIL, type_=filters["type"], level=filters["level"]
        )
    context = {
        "deployment": deployment,
        "lines": lines,
        "filters": filters,
        "page": TAIL,
        "final": deployment.status in FINAL_STATUSES,
    }
    return render(request, "_log_panel.html", context)
