"""A project's settings: its configuration, write-only secrets, disable / enable, delete."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import update
from sqlmodel import col, select

from models import AuditEvent, Project, ProjectSecret
from models.common import utcnow
from models.fly_images import image_problem
from models.projects import ENV_NAME
from models.secrets import delete_secret, put_secret, secret_value_problem
from web.dashboard.access import project_for, role_for
from web.dashboard.config_form import ConfigForm, parse, values_of
from web.dashboard.csrf import require_csrf
from web.dashboard.domain_view import domain_context
from web.dashboard.signed_in import SignedIn, UserDep
from web.dashboard.teardown import all_prs, delete_after_teardown, destroy_previews
from web.dashboard.templating import render
from web.deps import Services, ServicesDep
from web.permissions import Action, may
from web.preview_workflows import SignalFailed, pr_states, redeploy, running_prs
from workflows.vocabulary import Phase

router = APIRouter(include_in_schema=False)
DELETED_NOTICE = "deleted"
changes = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
# Background deletions, held so they are not garbage-collected mid-way.
_deleting: set[asyncio.Task[None]] = set()


async def _page(
    request: Request,
    services: Services,
    project: Project,
    *,
    form: ConfigForm | None = None,
    notice: tuple[bool, str] | None = None,
    secret_error: str | None = None,
    domain: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with services.db.session() as session:
        secrets = (
            await session.exec(
                select(ProjectSecret)
                .where(ProjectSecret.project_id == project.id)
                .order_by(col(ProjectSecret.name))
            )
        ).all()
    context = {
        "project": project,
        "form": form or ConfigForm(values=values_of(project.deployment_config)),
        # Names and when each changed: a saved value never comes back to a page.
        "secrets": [{"name": s.name, "updated_at": s.updated_at} for s in secrets],
        "notice": notice,
        "secret_error": secret_error,
        **await domain_context(services, request.state.signed_in, project, **(domain or {})),
    }
    return render(request, "settings.html", context, status_code=status_code)


# The preview domain's form (web/dashboard/domain_settings.py) renders this page with its error.
settings_page_for = _page


async def audit(  # also the notifications page's (web/dashboard/notifications.py)
    services: Services, project: Project, signed_in: SignedIn, action: str, **detail: object
) -> None:
    async with services.db.session() as session:
        session.add(
            AuditEvent(
                project_id=project.id,
                user_id=signed_in.user.id,
                actor=signed_in.user.login,
                action=action,
                detail=detail,
            )
        )
        await session.commit()


@router.get("/projects/{project_id}/settings")
async def settings_page(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    saved = (True, "Settings saved.") if request.query_params.get("saved") else None
    return await _page(request, services, project, notice=saved)


@changes.post("/projects/{project_id}/settings")
async def save_settings(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    form = parse(await request.form(), keep=project.deployment_config, settings=services.settings)
    template = form.config.database_template if form.config is not None else None
    if template != project.config().database_template:
        # Whose data the previews hold is an admin's to say (a maintainer keeps the saved one).
        if not may(await role_for(services, signed_in, project), Action.DATABASE_TEMPLATE):
            form.errors["database_template"] = "only an admin of the repository sets the template"
    async with services.db.session() as session:
        if form.config is not None:
            problem = await image_problem(session, project_id=project.id, image=form.config.fly_config.image)
            if problem:
                form.errors["fly_image"] = problem
    if form.errors or form.config is None:
        return await _page(request, services, project, form=form, status_code=422)
    async with services.db.session() as session:
        await session.execute(
            update(Project)
            .where(col(Project.id) == project.id)
            .values(
                deployment_config=form.config.model_dump(mode="json", exclude_none=True), updated_at=utcnow()
            )
        )
        await session.commit()
    await audit(services, project, signed_in, "configure")
    if form.config.fork_policy != project.config().fork_policy:
        await _recheck_forks(services, project.id, signed_in.user.login)
    return RedirectResponse(f"/projects/{project.id}/settings?saved=1", status_code=303)


async def _recheck_forks(services: Services, project_id: uuid.UUID, who: str) -> None:
    """A fork's sha is held back by the policy it met; after a change of policy, the PRs held back
    look again (a redeploy goes through the same check): "always" now deploys them, "approve" asks."""
    running = await running_prs(services, project_id) or set()
    states = await pr_states(services, project_id, sorted(running))
    for number, state in states.items():
        if state is not None and state.phase in (Phase.AWAITING_APPROVAL, Phase.FORK_BLOCKED):
            with contextlib.suppress(SignalFailed):  # the next push looks again anyway
                await redeploy(services, project_id, number, requested_by=who)


@changes.post("/projects/{project_id}/secrets")
async def save_secret(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    name: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SECRETS)
    name = name.strip()
    if not ENV_NAME.match(name):
        problem = "a name like DATABASE_URL (letters, digits, _) is needed"
        return await _page(request, services, project, secret_error=problem, status_code=422)
    if value_problem := secret_value_problem(value):
        return await _page(request, services, project, secret_error=f"value {value_problem}", status_code=422)
    async with services.db.session() as session:
        await put_secret(session, keyring=services.keyring, project_id=project.id, name=name, value=value)
    await audit(services, project, signed_in, "set secret", name=name)
    return await _page(
        request, services, project, notice=(True, f"Secret {name} saved. Its value is not shown again.")
    )


@changes.post("/projects/{project_id}/secrets/{name}/delete")
async def remove_secret(
    request: Request, project_id: uuid.UUID, name: str, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SECRETS)
    async with services.db.session() as session:
        removed = await delete_secret(session, project_id=project.id, name=name)
    if removed:
        await audit(services, project, signed_in, "delete secret", name=name)
    notice = (True, f"Secret {name} deleted.") if removed else (False, f"There is no secret {name}.")
    return await _page(request, services, project, notice=notice)


@changes.post("/projects/{project_id}/disable")
async def disable(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    previews: Annotated[Literal["keep", "destroy"], Form()] = "keep",
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.DISABLE)
    await _set_active(services, project.id, False, "disabled")
    message = "Disabled: webhooks are ignored from now on. Running previews are kept."
    ok = True
    if previews == "destroy":
        asked, errors = await destroy_previews(services, project.id, signed_in.user.login)
        message = f"Disabled: webhooks are ignored, and {len(asked)} preview(s) are being torn down."
        if errors:
            ok, message = False, message + " Some could not be asked: " + " ".join(errors)
    await audit(services, project, signed_in, "disable", previews=previews)
    project.is_active = False
    return await _page(request, services, project, notice=(ok, message))


@changes.post("/projects/{project_id}/enable")
async def enable(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.DISABLE)
    await _set_active(services, project.id, True, None)
    await audit(services, project, signed_in, "enable")
    project.is_active = True
    return await _page(
        request, services, project, notice=(True, "Enabled: new pushes to pull requests deploy again.")
    )


async def _set_active(services: Services, project_id: uuid.UUID, active: bool, reason: str | None) -> None:
    async with services.db.session() as session:
        await session.execute(
            update(Project)
            .where(col(Project.id) == project_id)
            .values(is_active=active, disabled_reason=reason, updated_at=utcnow())
        )
        await session.commit()


@changes.post("/projects/{project_id}/delete")
async def delete_project(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.DELETE)
    if confirm != project.github_repo_full_name:
        problem = (False, f"To delete, type the repository name, {project.github_repo_full_name}, exactly.")
        return await _page(request, services, project, notice=problem, status_code=422)
    # Webhooks stop at once; the previews go first, then the rows (see teardown.delete_after_teardown).
    await _set_active(services, project.id, False, "deleting")
    await audit(services, project, signed_in, "delete")
    prs = await all_prs(services, project.id)
    await destroy_previews(services, project.id, signed_in.user.login)
    task = asyncio.create_task(delete_after_teardown(services, project.id, prs, signed_in.user.login))
    _deleting.add(task)
    task.add_done_callback(_deleting.discard)
    # Told once on the overview, from the session: a notice in the URL could be forged by anyone's link.
    request.session[DELETED_NOTICE] = project.github_repo_full_name
    return RedirectResponse("/", status_code=303)
