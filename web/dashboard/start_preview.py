"""Deploying an open PR that has no preview yet (say, one opened before the repository was
connected) with one click.

The PR is read again from GitHub with the user's token (never taken from the form), and handed to
the same transactional outbox that webhooks fill, under the same per-PR lock: the dispatcher starts
its workflow with signal-with-start, in order with any webhook for that PR. Nothing here talks to
Temporal.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from models import AuditEvent, Project
from outbox.enqueue import enqueue
from outbox.intents import Intent
from web.dashboard.access import access_to, github_token_of, project_for
from web.dashboard.csrf import require_csrf
from web.dashboard.github_user_api import GitHubUserApi, GitHubUserError
from web.dashboard.signed_in import SignedIn, UserDep
from web.dashboard.templating import render
from web.deps import PullNumber, Services, ServicesDep
from web.github_events import push_signal
from web.permissions import Action
from web.preview_workflows import running_prs

router = APIRouter(include_in_schema=False)


async def _open_pulls(
    services: Services, signed_in: SignedIn, project: Project
) -> list[dict[str, Any]] | str:
    """The PRs GitHub lists as open, or what went wrong in words."""
    token = github_token_of(services, signed_in)
    if token is None or project.github_installation_id is None:
        return []
    try:
        async with GitHubUserApi(services.settings.github_api_url, token) as api:
            return await api.open_pulls(project.github_repo_full_name)
    except GitHubUserError as error:
        if error.status == 404:
            name = project.github_repo_full_name
            return f"Your GitHub account cannot see {name}: is it still in the App's installation?"
        return (
            f"GitHub did not list the open pull requests ({error.status}: {error.message}). Try again later."
        )


@router.get("/projects/{project_id}/github-pulls")
async def github_pulls(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    access = await access_to(services, signed_in, project_id)
    project = access.project
    pulls = await _open_pulls(services, signed_in, project)
    running = await running_prs(services, project.id) or set()
    waiting = [p for p in pulls if p["number"] not in running] if isinstance(pulls, list) else []
    error = pulls if isinstance(pulls, str) else None
    return render(
        request,
        "_github_pulls.html",
        {"project": project, "pulls": waiting, "error": error, "access": access},
    )


@router.post("/projects/{project_id}/pulls/{pr_number}/deploy", dependencies=[Depends(require_csrf)])
async def deploy(
    request: Request, project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.DEPLOY)
    pulls = await _open_pulls(services, signed_in, project)
    if isinstance(pulls, str):
        return render(request, "_notice.html", {"ok": False, "message": pulls})
    pull = next((p for p in pulls if p["number"] == pr_number), None)
    if pull is None:
        message = f"PR #{pr_number} is not open on GitHub any more."
        return render(request, "_notice.html", {"ok": False, "message": message})
    if not project.is_active:
        message = "This project is disabled: enable it in its settings first."
        return render(request, "_notice.html", {"ok": False, "message": message})
    delivery_id = f"dashboard-{uuid.uuid4()}"
    try:
        push = push_signal(pull, project.github_repo_id, delivery_id)
    except (KeyError, TypeError, ValueError):  # MalformedPayload is one
        return render(request, "_notice.html", {"ok": False, "message": "GitHub described this PR oddly."})
    async with services.db.session() as session:
        await enqueue(
            session, delivery_id=delivery_id, event="dashboard", action="deploy", project=project,
            pr_number=pr_number, intent=Intent.PUSH, args=asdict(push),
        )  # fmt: skip
        session.add(
            AuditEvent(
                project_id=project.id,
                user_id=signed_in.user.id,
                actor=signed_in.user.login,
                action="deploy",
                pr_number=pr_number,
                detail={"sha": push.sha, "delivery_id": delivery_id},
            )
        )
        await session.commit()
    message = f"PR #{pr_number} is queued to deploy commit {push.sha[:7]}. It appears above in a moment."
    return render(request, "_notice.html", {"ok": True, "message": message})
