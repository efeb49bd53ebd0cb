"""The bearer-token JSON API under /api. Secret values go in and never come out. Every route checks
the token against the project it touches (web/auth.py `project_as`): 404 for a project its user may
not see, 403 for what its scope or its user's role does not reach."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from models import (
    AuditEvent,
    Deployment,
    DeploymentConfig,
    DeploymentStatus,
    PreviewRoute,
    Project,
    ProjectSecret,
)
from models.build_slots import place_in_line
from models.common import utcnow
from models.fly_images import image_problem
from models.projects import ENV_NAME
from models.queries import create_project, latest_deployment_per_pr, logs_after
from models.secrets import delete_secret, put_secret, secret_value_problem
from web import preview_workflows
from web.auth import Caller, CurrentCaller, project_as, role_of
from web.deps import PullNumber, Services, ServicesDep
from web.permissions import Action, Scope, may
from web.preview_workflows import ManualAction, SignalFailed, pr_states
from workflows.lifetime import DURATION_HELP, extension_hours
from workflows.signals import LifetimeAction, LifetimeSignal

router = APIRouter(prefix="/api", tags=["api"])
MANUAL: dict[Action, ManualAction] = {
    Action.REDEPLOY: preview_workflows.redeploy,
    Action.DESTROY: preview_workflows.destroy,
    Action.RESET_DB: preview_workflows.reset_database,
}


class ProjectCreate(BaseModel):
    github_repo_full_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_repo_id: int | None = None
    github_installation_id: int | None = None
    deployment_config: DeploymentConfig = Field(default_factory=DeploymentConfig)


class ProjectUpdate(BaseModel):
    # An unknown field is a 422 naming it, not a silent 200: `preview_domain`, say, is the
    # dashboard's (a repository admin's) to set, and a client must not believe it set it here.
    model_config = ConfigDict(extra="forbid")

    deployment_config: DeploymentConfig | None = None
    is_active: bool | None = None
    github_installation_id: int | None = None


class ProjectOut(BaseModel):
    id: uuid.UUID
    github_repo_id: int
    github_repo_full_name: str
    github_installation_id: int | None
    deployment_config: dict[str, Any]
    is_active: bool
    secret_names: list[str]
    # Fly previews also answer at `{app}.{preview_domain}`; set by a repository admin in the
    # dashboard only (README, "Custom domains").
    preview_domain: str | None = None
    created_at: datetime
    updated_at: datetime


class SecretIn(BaseModel):
    value: str = Field(min_length=1, max_length=64 * 1024)


class DeploymentOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    pr_number: int
    pr_title: str
    pr_author: str
    commit_sha: str
    app_name: str
    app_url: str | None
    # A DeploymentStatus: "skipped" when no watch path changed since the live sha.
    status: str
    error: str | None
    workflow_id: str
    # The config it ran with: {"config": {...}, "sources": {name: "default" | "dashboard" |
    # "previewd.toml" | "Procfile" | "operator ceiling"}, "file": ..., "read_at": sha}.
    effective_config: dict[str, Any] | None = None
    # While it waits for one of its project's build slots: the project's builds running or waiting
    # before it (the PR comment's "2 builds ahead"); None otherwise.
    builds_ahead: int | None = None
    # Seconds per step and what each reused: {"seconds": {"clone": …, "install": …, "start": …},
    # "reused": {"mirror": "updated", "virtualenv": "<deployment id>" | null, "build_cache": true},
    # "reuse_keys": {…}} (models/build_stats.py); None until its clone ends.
    build_stats: dict[str, Any] | None = None
    # The live deployment's preview sleeps (no request for its project's idle_minutes): its process is
    # stopped, its files and route kept, and the next request wakes it. Its status stays "active".
    asleep: bool = False
    # Fly, with a project preview domain: {"hostname", "status" (Fly's certificate status),
    # "configured", "serving" (answered over verified TLS), "dns": [{"type", "name", "value"}]}.
    custom_domain: dict[str, Any] | None = None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PullOut(BaseModel):
    pr_number: int
    latest_deployment: DeploymentOut
    workflow: dict[str, Any] | None


class LogLine(BaseModel):
    id: int
    type: str
    level: str
    message: str
    timestamp: datetime


class LogsOut(BaseModel):
    lines: list[LogLine]
    next_after: int


class ExtendIn(BaseModel):
    # "12h", "3d", "1w": at most 90 days (workflows/lifetime.py).
    duration: str = Field(min_length=2, max_length=10, examples=["3d"])


class ActionOut(BaseModel):
    status: str
    workflow_id: str


async def _project_out(services: Services, project: Project) -> ProjectOut:

    async with services.db.session() as session:
        names = (
            await session.exec(select(ProjectSecret.name).where(ProjectSecret.project_id == project.id))
        ).all()
    return ProjectOut(**project.model_dump(), secret_names=sorted(names))


@router.get("/projects")
async def list_projects(services: ServicesDep, caller: CurrentCaller) -> list[ProjectOut]:
    async with services.db.session() as session:
        projects = (await session.exec(select(Project).order_by(col(Project.created_at)))).all()
    return [
        await _project_out(services, project)
        for project in projects
        if may(await role_of(services, caller, project), Action.VIEW)
    ]


def _within_ceilings(services: Services, config: DeploymentConfig) -> None:
    """422 naming each field the operator's settings refuse (the model cannot know them): a sandbox
    limit above its ceiling, a clone_url this previewd does not clone from."""
    settings = services.settings
    errors = config.over_ceilings(settings.ceilings)
    clone_problem = config.clone_url_problem(settings.clone_rules)
    if clone_problem is not None:
        errors["clone_url"] = clone_problem
    if errors:
        detail = [
            {"loc": ["body", "deployment_config", name], "msg": message, "type": "value_error"}
            for name, message in errors.items()
        ]
        raise HTTPException(422, detail)


def _may_connect(services: Services, caller: Caller) -> None:
    """In GitHub mode only the operator connects through the API: anyone else connects in the
    dashboard's setup, where GitHub itself lists the repository, its id and their admin role on it
    (a body here could pair the id of a repository they administer with another one's name)."""
    if caller.scope != Scope.ADMIN:
        raise HTTPException(403, "adding a project needs a token with the admin scope")
    if services.settings.github_sign_in and not caller.operator:
        raise HTTPException(
            403, "connect a repository in the dashboard (/setup): GitHub vouches for it there"
        )


@router.post("/projects", status_code=201)
async def add_project(body: ProjectCreate, services: ServicesDep, caller: CurrentCaller) -> ProjectOut:
    _may_connect(services, caller)
    _within_ceilings(services, body.deployment_config)
    async with services.db.session() as session:
        image = body.deployment_config.fly_config.image
        if problem := await image_problem(session, project_id=None, image=image):
            raise HTTPException(422, problem)
        project = await create_project(
            session,
            user_id=caller.user.id,
            repo_full_name=body.github_repo_full_name,
            config=body.deployment_config,
            repo_id=body.github_repo_id,
            installation_id=body.github_installation_id,
        )
    return await _project_out(services, project)


@router.get("/projects/{project_id}")
async def get_project(project_id: uuid.UUID, services: ServicesDep, caller: CurrentCaller) -> ProjectOut:
    return await _project_out(services, await project_as(services, caller, project_id))


@router.patch("/projects/{project_id}")
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, services: ServicesDep, caller: CurrentCaller
) -> ProjectOut:
    await project_as(services, caller, project_id, Action.SETTINGS)
    if body.github_installation_id is not None and services.settings.github_sign_in and not caller.operator:
        # Which installation stands for a repository is GitHub's to say (setup, installation events).
        raise HTTPException(403, "github_installation_id: only the operator changes it")
    async with services.db.session() as session:
        project = await session.get(Project, project_id)
        if project is None:
            raise HTTPException(404, "project not found")
        if body.deployment_config is not None:
            _within_ceilings(services, body.deployment_config)
            if body.deployment_config.database_template != project.config().database_template:
                await project_as(services, caller, project_id, Action.DATABASE_TEMPLATE)
            image = body.deployment_config.fly_config.image
            if problem := await image_problem(session, project_id=project.id, image=image):
                raise HTTPException(422, problem)
            project.deployment_config = body.deployment_config.model_dump(mode="json", exclude_none=True)
        if body.is_active is not None:
            project.is_active = body.is_active
        if body.github_installation_id is not None:
            project.github_installation_id = body.github_installation_id
        project.updated_at = utcnow()
        session.add(project)
        await session.commit()
        await session.refresh(project)
    return await _project_out(services, project)


@router.put("/projects/{project_id}/secrets/{name}", status_code=204)
async def put_project_secret(
    project_id: uuid.UUID, name: str, body: SecretIn, services: ServicesDep, caller: CurrentCaller
) -> Response:
    await project_as(services, caller, project_id, Action.SECRETS)
    if not ENV_NAME.match(name):
        raise HTTPException(422, "name: must be a valid environment variable name")
    if problem := secret_value_problem(body.value):
        raise HTTPException(422, [{"loc": ["body", "value"], "msg": problem, "type": "value_error"}])
    async with services.db.session() as session:
        await put_secret(
            session, keyring=services.keyring, project_id=project_id, name=name, value=body.value
        )
    return Response(status_code=204)


@router.delete("/projects/{project_id}/secrets/{name}", status_code=204)
async def delete_project_secret(
    project_id: uuid.UUID, name: str, services: ServicesDep, caller: CurrentCaller
) -> Response:
    await project_as(services, caller, project_id, Action.SECRETS)
    async with services.db.session() as session:
        if not await delete_secret(session, project_id=project_id, name=name):
            raise HTTPException(404, "secret not found")
    return Response(status_code=204)


@router.get("/projects/{project_id}/pulls")
async def list_pulls(project_id: uuid.UUID, services: ServicesDep, caller: CurrentCaller) -> list[PullOut]:
    await project_as(services, caller, project_id)
    async with services.db.session() as session:
        latest = await latest_deployment_per_pr(session, project_id=project_id)
    states = await pr_states(services, project_id, [d.pr_number for d in latest])
    return [
        PullOut(
            pr_number=d.pr_number,
            latest_deployment=await _deployment_out(services, d),
            workflow=dataclasses.asdict(state) if (state := states.get(d.pr_number)) else None,
        )
        for d in latest
    ]


async def _deployment_out(services: Services, deployment: Deployment) -> DeploymentOut:
    out = DeploymentOut.model_validate(deployment, from_attributes=True)
    if deployment.status == DeploymentStatus.PENDING:  # only a pending one can wait in line
        async with services.db.session() as session:
            out.builds_ahead = await place_in_line(session, deployment.id)
    elif deployment.status == DeploymentStatus.ACTIVE:
        async with services.db.session() as session:
            route = await session.get(PreviewRoute, deployment.app_name)
        out.asleep = route is not None and route.deployment_id == deployment.id and route.asleep
    return out


async def _deployment(services: Services, caller: Caller, deployment_id: uuid.UUID) -> Deployment:
    """404 alike for a missing deployment and one of a project the token may not see."""
    async with services.db.session() as session:
        deployment = await session.get(Deployment, deployment_id)
    if deployment is None:
        raise HTTPException(404, "deployment not found")
    try:
        await project_as(services, caller, deployment.project_id)
    except HTTPException as error:
        raise HTTPException(404, "deployment not found") from error
    return deployment


@router.get("/deployments/{deployment_id}")
async def get_deployment(
    deployment_id: uuid.UUID, services: ServicesDep, caller: CurrentCaller
) -> DeploymentOut:
    deployment = await _deployment(services, caller, deployment_id)
    return await _deployment_out(services, deployment)


@router.get("/deployments/{deployment_id}/logs")
async def get_logs(
    deployment_id: uuid.UUID,
    services: ServicesDep,
    caller: CurrentCaller,
    after: int = Query(default=0, ge=0),
    limit: int = Query(default=1000, ge=1, le=10000),
) -> LogsOut:
    await _deployment(services, caller, deployment_id)
    async with services.db.session() as session:
        rows = await logs_after(session, deployment_id=deployment_id, after=after, limit=limit)
    lines = [LogLine(**row.model_dump()) for row in rows]
    return LogsOut(lines=lines, next_after=lines[-1].id if lines else after)


async def _ask(
    services: Services, caller: Caller, project_id: uuid.UUID, pr_number: int, verb: Action
) -> ActionOut:
    await project_as(services, caller, project_id, verb)
    try:
        workflow_id = await MANUAL[verb](services, project_id, pr_number, requested_by=caller.user.login)
    except SignalFailed as failure:
        if verb == Action.RESET_DB:
            await _audit(services, caller, project_id, pr_number, verb, str(failure))
        raise HTTPException(404 if failure.no_workflow else 503, str(failure)) from None
    if verb == Action.RESET_DB:
        await _audit(services, caller, project_id, pr_number, verb, "ok", workflow_id=workflow_id)
    return ActionOut(status=f"{verb} requested", workflow_id=workflow_id)


async def _audit(
    services: Services, caller: Caller, project_id: uuid.UUID, pr_number: int, verb: Action,
    outcome: str, workflow_id: str = "",
) -> None:  # fmt: skip
    async with services.db.session() as session:
        session.add(
            AuditEvent(
                project_id=project_id,
                user_id=caller.user.id,
                actor=caller.user.login,
                action=verb,
                pr_number=pr_number,
                outcome=outcome[:300],
                detail={"workflow_id": workflow_id},
            )  # fmt: skip
        )
        await session.commit()


@router.post("/projects/{project_id}/pulls/{pr_number}/redeploy", status_code=202)
async def redeploy(
    project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    return await _ask(services, caller, project_id, pr_number, Action.REDEPLOY)


@router.post("/projects/{project_id}/pulls/{pr_number}/reset-db", status_code=202)
async def reset_database(
    project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    """The PR's own database dropped and made afresh from its template / seed, then a redeploy."""
    return await _ask(services, caller, project_id, pr_number, Action.RESET_DB)


@router.post("/projects/{project_id}/pulls/{pr_number}/destroy", status_code=202)
async def destroy(
    project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    return await _ask(services, caller, project_id, pr_number, Action.DESTROY)


async def _lifetime(
    services: Services, caller: Caller, project_id: uuid.UUID, pr_number: int,
    action: LifetimeAction, hours: int = 0,
) -> ActionOut:  # fmt: skip
    """Keep, unpin or extend; recorded in the audit log whether or not it reached the workflow."""
    await project_as(services, caller, project_id, Action(action))
    request = LifetimeSignal(
        action=action, hours=hours, requested_by=caller.user.login, request_id=str(uuid.uuid4())
    )
    workflow_id, outcome, refusal = "", "ok", None
    try:
        workflow_id = await preview_workflows.lifetime(services, project_id, pr_number, request)
    except SignalFailed as failure:
        outcome = str(failure)
        refusal = HTTPException(404 if failure.no_workflow else 503, outcome)
    async with services.db.session() as session:
        session.add(
            AuditEvent(
                project_id=project_id, user_id=caller.user.id, actor=caller.user.login, action=action,
                pr_number=pr_number, outcome=outcome[:300],
                detail={"request_id": request.request_id, "workflow_id": workflow_id, "via": "api",
                        **({"hours": hours} if hours else {})},
            )
        )  # fmt: skip
        await session.commit()
    if refusal is not None:
        raise refusal
    return ActionOut(status=f"{action} requested", workflow_id=workflow_id)


@router.post("/projects/{project_id}/pulls/{pr_number}/keep", status_code=202)
async def keep(
    project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    """Pin the PR's preview: it survives new pushes and never expires until unpinned."""
    return await _lifetime(services, caller, project_id, pr_number, LifetimeAction.KEEP)


@router.post("/projects/{project_id}/pulls/{pr_number}/unpin", status_code=202)
async def unpin(
    project_id: uuid.UUID, pr_number: PullNumber, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    return await _lifetime(services, caller, project_id, pr_number, LifetimeAction.UNPIN)


@router.post("/projects/{project_id}/pulls/{pr_number}/extend", status_code=202)
async def extend(
    project_id: uuid.UUID, pr_number: PullNumber, body: ExtendIn, services: ServicesDep, caller: CurrentCaller
) -> ActionOut:
    """Push the preview's expiry out by `duration` (at most 90 days from now)."""
    hours = extension_hours(body.duration)
    if hours is None:
        raise HTTPException(422, f"duration: {DURATION_HELP.replace('`', '')}")
    return await _lifetime(services, caller, project_id, pr_number, LifetimeAction.EXTEND, hours)
