"""Destroying a project's previews (disable with "destroy", delete), then deleting the project."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import delete
from sqlmodel import col

from models import AuditEvent, Project
from models.deployments import FINAL_STATUSES
from models.queries import latest_deployment_per_pr
from web.deps import Services
from web.preview_workflows import SignalFailed, destroy, running_prs, terminate

log = logging.getLogger("previewd.web.teardown")
DELETE_WAIT_SECONDS = 120.0
GONE = FINAL_STATUSES


async def _standing(services: Services, project_id: uuid.UUID) -> list[int]:
    """PRs whose newest deployment still holds (or is about to hold) a running preview."""
    async with services.db.session() as session:
        latest = await latest_deployment_per_pr(session, project_id=project_id)
    return [d.pr_number for d in latest if d.status not in GONE]


async def destroy_previews(
    services: Services, project_id: uuid.UUID, who: str
) -> tuple[list[int], list[str]]:
    """Signal `destroy` to every PR with a preview; returns the PRs asked and the errors met."""
    asked, errors = [], []
    for pr_number in await _standing(services, project_id):
        try:
            await destroy(services, project_id, pr_number, requested_by=who)
            asked.append(pr_number)
        except SignalFailed as failure:
            errors.append(f"PR #{pr_number}: {failure}")
    return asked, errors


async def all_prs(services: Services, project_id: uuid.UUID) -> list[int]:
    """Every PR with a deployment, and every PR whose workflow runs without one (a fork's waiting for
    approval): all of them are ended before the project goes."""
    async with services.db.session() as session:
        numbers = {d.pr_number for d in await latest_deployment_per_pr(session, project_id=project_id)}
    return sorted(numbers | (await running_prs(services, project_id) or set()))


async def delete_after_teardown(
    services: Services, project_id: uuid.UUID, pr_numbers: list[int], who: str
) -> None:
    """Wait for the previews to go, end their workflows, then delete the project (and, by cascade,
    its deployments, logs and secrets). Runs after the response; a web restart mid-way leaves the
    project disabled as "deleting", and deleting it again finishes the job."""
    deadline = asyncio.get_running_loop().time() + DELETE_WAIT_SECONDS
    while await _standing(services, project_id) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1)
    try:
        for pr_number in pr_numbers:
            try:
                await terminate(services, project_id, pr_number, reason=f"project deleted by {who}")
            except Exception as error:  # already finished, or never started: nothing to end
                log.info("workflow of PR #%s not terminated: %s", pr_number, type(error).__name__)
    except Exception as error:
        log.warning("Temporal unreachable while deleting project %s: %s", project_id, error)
    async with services.db.session() as session:
        await session.execute(delete(Project).where(col(Project.id) == project_id))
        session.add(
            AuditEvent(project_id=None, actor=who, action="deleted", detail={"project_id": str(project_id)})
        )
        await session.commit()
    log.info("project %s deleted by %s", project_id, who)
