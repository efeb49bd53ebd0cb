"""Stepping in by hand: redeploy, destroy, approve a fork's sha, keep / unpin / extend a preview. Each
is a signal to the PR's workflow, recorded with who asked and how it went, and answered with a notice
on the page."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from models import AuditEvent
from web.dashboard.access import project_for
from web.dashboard.csrf import require_csrf
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import render
from web.deps import PullNumber, ServicesDep
from web.permissions import Action as Needs
from web.preview_workflows import (
    ManualAction,
    SignalFailed,
    approve,
    destroy,
    lifetime,
    redeploy,
    reset_database,
)
from workflows.lifetime import DURATION_HELP, extension_hours
from workflows.signals import ApproveSignal, LifetimeAction, LifetimeSignal

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
Action = Literal["redeploy", "destroy", "approve", "keep", "unpin", "extend", "reset-db"]
MANUAL: dict[str, ManualAction] = {"redeploy": redeploy, "destroy": destroy, "reset-db": reset_database}
DONE = {
    "redeploy": "Redeploy of PR #{n} requested. A new deployment appears below in a moment.",
    "destroy": "PR #{n}'s preview is being torn down. The next push to the PR deploys it again.",
    "approve": "Commit {sha} of PR #{n} approved; it builds with the project's secrets now.",
    "keep": "PR #{n}'s preview is pinned: it does not expire until someone unpins it.",
    "unpin": "PR #{n}'s preview is unpinned: it expires again after the project's usual time unused.",
    "extend": "PR #{n}'s preview lives {duration} longer; the PR's comment says until when.",
    "reset-db": "PR #{n}'s database is dropped and made afresh from its seed; a redeploy follows.",
}


@router.post("/projects/{project_id}/pulls/{pr_number}/{action}")
async def act(
    request: Request,
    project_id: uuid.UUID,
    pr_number: PullNumber,
    action: Action,
    services: ServicesDep,
    signed_in: UserDep,
    sha: Annotated[str, Form()] = "",
    duration: Annotated[str, Form()] = "",
) -> Response:
    project = await project_for(services, signed_in, project_id, Needs(action))
    who = signed_in.user.login
    request_id = str(uuid.uuid4())
    try:
        if action in ("keep", "unpin", "extend"):
            hours = extension_hours(duration) if action == "extend" else 0
            if hours is None:
                raise SignalFailed(f"Not extended: give {DURATION_HELP.replace('`', '')}.")
            asked = LifetimeSignal(
                action=LifetimeAction(action), hours=hours, requested_by=who, request_id=request_id
            )
            workflow_id = await lifetime(services, project.id, pr_number, asked)
        elif action == "approve":
            approval = ApproveSignal(sha=sha, requested_by=who, request_id=request_id, source="dashboard")
            workflow_id = await approve(services, project.id, pr_number, approval)
        else:
            workflow_id = await MANUAL[action](services, project.id, pr_number, requested_by=who)
        outcome, message = "ok", DONE[action].format(n=pr_number, sha=sha[:7], duration=duration)
    except SignalFailed as failure:
        workflow_id, outcome, message = "", str(failure), str(failure)
    async with services.db.session() as session:
        session.add(
            AuditEvent(
                project_id=project.id,
                user_id=signed_in.user.id,
                actor=who,
                action=action,
                pr_number=pr_number,
                outcome=outcome[:300],
                detail={
                    "request_id": request_id,
                    "workflow_id": workflow_id,
                    **({"sha": sha} if sha else {}),
                    **({"duration": duration[:20]} if action == "extend" else {}),
                },
            )
        )
        await session.commit()
    return render(request, "_notice.html", {"ok": outcome == "ok", "message": message})
