"""The `store` activities: deployment rows and statuses. Each is idempotent (Temporal may retry)."""

from __future__ import annotations

import uuid

from sqlalchemy import tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import deployment_metrics
from activities.app_names import app_name as make_app_name
from activities.context import WorkerContext
from models import Deployment, DeploymentLog, DeploymentStatus, LogLevel, LogType, PreviewRoute, Project
from models.app_names import allocate_name
from models.common import utcnow
from models.deployments import FINAL_STATUSES
from models.queries import lock_log_order
from models.running_time import started, stopped
from models.sandbox_reports import unsandboxed_hosts
from workflows.activity_io import (
    ActivateInput,
    ActivityName,
    CreateDeploymentInput,
    CreateDeploymentResult,
    ErrorType,
    ExpiryFacts,
    ExpiryFactsInput,
    FailDeploymentInput,
    FailDeploymentResult,
    MarkDestroyedInput,
    SetStatusInput,
)

LOG_TAIL_LINES = 30


class StoreActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=ActivityName.CREATE_DEPLOYMENT)
    async def create_deployment(self, input: CreateDeploymentInput) -> CreateDeploymentResult:
        project = await self.ctx.project(input.project_id)
        name = input.app_name or await self._allocate_app_name(project, input.pr_number)
        url = self.ctx.settings.preview_url(name)
        async with self.ctx.db.session() as session:
            await session.execute(
                insert(Deployment)
                .values(
                    id=uuid.UUID(input.deployment_id),
                    project_id=project.id,
                    pr_number=input.pr_number,
                    pr_title=input.pr_title,
                    pr_author=input.pr_author,
                    pr_branch=input.pr_branch,
                    commit_sha=input.commit_sha,
                    app_name=name,
                    workflow_id=input.workflow_id,
                    status=DeploymentStatus.PENDING,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            await session.commit()
        return CreateDeploymentResult(app_name=name, app_url=url)

    async def _allocate_app_name(self, project: Project, pr_number: int) -> str:
        """The plain name if nobody holds it on this platform, else the one with the project's hash:
        decided by the unique index on app_names (models/app_names.py), never by a read first."""
        names = [
            make_app_name(
                pr_number=pr_number, repo_full_name=project.github_repo_full_name, project_id=str(project.id),
                force_hash=force_hash,
            )
            for force_hash in (False, True)
        ]  # fmt: skip
        async with self.ctx.db.session() as session:
            name = await allocate_name(
                session, platform=self.ctx.settings.previewd_platform, project_id=project.id,
                pr_number=pr_number, candidates=names,
            )  # fmt: skip
        if name is None:
            raise ApplicationError(
                f"no free app name for PR #{pr_number}: {', '.join(names)} are held by other projects",
                type=ErrorType.APP_NAME_TAKEN,
                non_retryable=True,
            )
        return name

    @activity.defn(name=ActivityName.SET_STATUS)
    async def set_status(self, input: SetStatusInput) -> None:
        status = DeploymentStatus(input.status)
        now = utcnow()
        values: dict[str, object] = {"status": status, "updated_at": now}
        if status == DeploymentStatus.BUILDING:
            values["started_at"] = now
        if status in FINAL_STATUSES:
            values.update(completed_at=now, **stopped(now))
        async with self.ctx.db.session() as session:
            changed = (
                await session.execute(
                    update(Deployment)
                    .where(col(Deployment.id) == uuid.UUID(input.deployment_id))
                    # Never move a finished deployment back (a retried activity arriving late).
                    .where(col(Deployment.status).not_in(list(FINAL_STATUSES)))
                    .values(**values)
                    .returning(
                        col(Deployment.project_id), col(Deployment.created_at), col(Deployment.started_at)
                    )
                )
            ).first()
            if input.message:
                await lock_log_order(session, [uuid.UUID(input.deployment_id)])
                session.add(
                    DeploymentLog(
                        deployment_id=uuid.UUID(input.deployment_id),
                        type=LogType.DEPLOY,
                        message=input.message,
                    )
                )
            await session.commit()
        if changed is not None and status == DeploymentStatus.BUILDING:
            deployment_metrics.build_started(changed.project_id, changed.created_at, now)
        elif changed is not None and status in FINAL_STATUSES:
            deployment_metrics.finished(changed.project_id, status.value, changed.started_at, now)

    @activity.defn(name=ActivityName.ACTIVATE)
    async def activate(self, input: ActivateInput) -> None:
        """The new deployment is live and every other live one of the PR is replaced, in one transaction:
        the one the workflow replaced, and one a run that is gone left live (terminated, then brought
        back by the drift reconcile), which no workflow knows of."""
        now = utcnow()
        new_id = uuid.UUID(input.deployment_id)
        async with self.ctx.db.session() as session:
            went_live = (
                await session.execute(
                    update(Deployment)
                    .where(col(Deployment.id) == new_id)
                    .where(col(Deployment.status) != DeploymentStatus.ACTIVE)
                    .values(
                        status=DeploymentStatus.ACTIVE,
                        app_url=input.app_url,
                        completed_at=now,
                        updated_at=now,
                        **started(now),
                    )
                    .returning(col(Deployment.project_id), col(Deployment.started_at))
                )
            ).first()
            this = select(Deployment.project_id, Deployment.pr_number).where(col(Deployment.id) == new_id)
            replaced = (
                await session.execute(
                    update(Deployment)
                    .where(tuple_(col(Deployment.project_id), col(Deployment.pr_number)).in_(this))
                    .where(col(Deployment.id) != new_id)
                    .where(col(Deployment.status) == DeploymentStatus.ACTIVE)
                    .values(status=DeploymentStatus.REPLACED, updated_at=now, **stopped(now))
                    .returning(col(Deployment.project_id))
                )
            ).all()
            await session.commit()
        if went_live is not None:
            deployment_metrics.finished(
                went_live.project_id, DeploymentStatus.ACTIVE, went_live.started_at, now
            )
        for row in replaced:
            deployment_metrics.finished(row.project_id, DeploymentStatus.REPLACED, None, now)

    @activity.defn(name=ActivityName.FAIL_DEPLOYMENT)
    async def fail_deployment(self, input: FailDeploymentInput) -> FailDeploymentResult:
        deployment_id = uuid.UUID(input.deployment_id)
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(
                    select(DeploymentLog.message)
                    .where(DeploymentLog.deployment_id == deployment_id)
                    .order_by(col(DeploymentLog.id).desc())
                    .limit(LOG_TAIL_LINES)
                )
            ).all()
            tail = list(reversed(rows))
            error = input.error
            if tail:
                error += "\n\nLast log lines:\n" + "\n".join(tail)
            now = utcnow()
            # A retried attempt (its worker died after the commit) rewrites the row but is not counted
            # again: the status before it, read under the row's lock, says whether this one failed it.
            before = (
                await session.exec(
                    select(Deployment.status).where(col(Deployment.id) == deployment_id).with_for_update()
                )
            ).first()
            failed = (
                await session.execute(
                    update(Deployment)
                    .where(col(Deployment.id) == deployment_id)
                    .values(
                        status=DeploymentStatus.FAILED,
                        error=error,
                        completed_at=now,
                        updated_at=now,
                        **stopped(now),
                    )
                    .returning(col(Deployment.project_id), col(Deployment.started_at))
                )
            ).first()
            await lock_log_order(session, [deployment_id])
            session.add(
                DeploymentLog(
                    deployment_id=deployment_id,
                    type=LogType.DEPLOY,
                    level=LogLevel.ERROR,
                    message=input.error,
                )
            )
            await session.commit()
        if failed is not None and before != DeploymentStatus.FAILED:
            deployment_metrics.finished(failed.project_id, DeploymentStatus.FAILED, failed.started_at, now)
        return FailDeploymentResult(log_tail=tail)

    @activity.defn(name=ActivityName.FORK_POLICY)
    async def fork_policy(self, project_id: str) -> str:
        """The project's fork policy as it is now (people change it while PRs wait).

        "never", whatever the project says, where a local worker runs PR code unsandboxed: a fork's
        code would run as previewd, next to its keys (issue 10). Approvals then change nothing."""
        policy = (await self.ctx.project(project_id)).config().fork_policy
        if self.ctx.settings.previewd_platform == "local":
            async with self.ctx.db.session() as session:
                if await unsandboxed_hosts(session):
                    return "never"
        return policy

    @activity.defn(name=ActivityName.EXPIRY_FACTS)
    async def expiry_facts(self, input: ExpiryFactsInput) -> ExpiryFacts:
        """The project's expiry as it is now (people change it while previews live), and when the
        preview last served a request (web/proxy/last_request.py; no row on Fly)."""
        day = self.ctx.settings.previewd_expiry_unit_seconds
        days = (await self.ctx.project(input.project_id)).config().expire_after_days
        last_request = None
        if input.app_name:
            async with self.ctx.db.session() as session:
                route = await session.get(PreviewRoute, input.app_name)
                last_request = route.last_request_at if route is not None else None
        return ExpiryFacts(
            after_seconds=days * day,
            day_seconds=day,
            last_request_at=last_request.isoformat() if last_request else "",
        )

    @activity.defn(name=ActivityName.MARK_DESTROYED)
    async def mark_destroyed(self, input: MarkDestroyedInput) -> None:
        ids = [uuid.UUID(value) for value in input.deployment_ids or []]
        if not ids:
            return
        now = utcnow()
        async with self.ctx.db.session() as session:
            gone = (
                await session.execute(
                    update(Deployment)
                    .where(col(Deployment.id).in_(ids))
                    .where(col(Deployment.status) != input.status)
                    .values(status=input.status, completed_at=now, updated_at=now, **stopped(now))
                    .returning(col(Deployment.project_id))
                )
            ).all()
            await lock_log_order(session, ids)
            for deployment_id in ids:
                session.add(
                    DeploymentLog(
                        deployment_id=deployment_id, type=LogType.DEPLOY, message=f"destroyed: {input.reason}"
                    )
                )
            await session.commit()
        for row in gone:
            deployment_metrics.finished(row.project_id, str(input.status), None, now)
