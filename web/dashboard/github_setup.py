"""Connecting a repository (GitHub mode): install the App, pick a repository, configure, activate.

Every installation and repository shown or used is checked against what the user's own GitHub
token reaches at that moment, never taken from the URL on trust. Connecting a repository needs the
admin role on it (its `permissions` as GitHub lists it for the user): whoever connects it sets the
commands previewd runs and the secrets they get.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import text
from sqlmodel import col, select

from models import Project
from models.common import utcnow
from models.fly_images import image_problem
from models.installations import Installation
from models.locks import repository_key
from models.queries import create_project
from models.secrets import put_secret, secret_value_problem
from web.dashboard.access import github_token_of, reachable_installations
from web.dashboard.config_form import ConfigForm, parse, parse_env, values_of
from web.dashboard.csrf import require_csrf
from web.dashboard.github_user_api import GitHubUserApi, GitHubUserError
from web.dashboard.signed_in import SignedIn, UserDep
from web.dashboard.templating import render
from web.deps import Services, ServicesDep
from web.permissions import Action, may, role_from_permissions

router = APIRouter(include_in_schema=False)


def _github(services: Services, signed_in: SignedIn) -> GitHubUserApi:
    token = github_token_of(services, signed_in)
    if not services.settings.github_sign_in or token is None:
        raise HTTPException(404, "Connecting repositories needs GitHub sign-in (GITHUB_CLIENT_ID)")
    return GitHubUserApi(services.settings.github_api_url, token)


async def _installations(services: Services, signed_in: SignedIn) -> list[dict[str, Any]]:
    try:
        async with _github(services, signed_in) as api:
            return await api.installations()
    except GitHubUserError as error:
        raise HTTPException(502, f"GitHub did not list your installations: {error.message}") from None


async def _repositories(
    services: Services, signed_in: SignedIn, installation_id: int
) -> list[dict[str, Any]]:
    try:
        async with _github(services, signed_in) as api:
            return await api.repositories(installation_id)
    except GitHubUserError as error:
        if error.status == 404:
            raise HTTPException(404, "Installation not found") from None
        raise HTTPException(502, f"GitHub did not list the repositories: {error.message}") from None


@router.get("/setup")
async def setup(request: Request, services: ServicesDep, signed_in: UserDep) -> Response:
    installations = await _installations(services, signed_in) if services.settings.github_sign_in else []
    slug = services.settings.github_app_slug
    install_url = f"{services.settings.github_url}/apps/{slug}/installations/new" if slug else None
    return render(request, "setup.html", {"installations": installations, "install_url": install_url})


@router.get("/setup/callback")
async def setup_callback(
    request: Request,
    services: ServicesDep,
    signed_in: UserDep,
    installation_id: Annotated[int | None, Query()] = None,
    setup_action: str = "",
) -> Response:
    """Where GitHub sends the user after installing (or changing) the App."""
    if setup_action == "request":
        # An organization member asked an owner to install: nothing to record until they do.
        return render(request, "setup.html", {"installations": [], "install_url": None, "requested": True})
    found = next((i for i in await _installations(services, signed_in) if i["id"] == installation_id), None)
    if found is None:
        raise HTTPException(404, "That installation is not reachable with your GitHub account")
    async with services.db.session() as session:
        row = await session.get(Installation, found["id"]) or Installation(id=found["id"], account_login="")
        row.account_login = found["account"]["login"]
        row.account_type = found["account"].get("type", "User")
        row.repository_selection = found.get("repository_selection", "selected")
        row.deleted_at, row.updated_at = None, utcnow()
        session.add(row)
        await session.commit()
    # The access cache must know the new installation at once.
    await reachable_installations(services, signed_in, fresh=True)
    return RedirectResponse(f"/setup/installations/{found['id']}", status_code=303)


@router.get("/setup/installations/{installation_id}")
async def pick_repository(
    request: Request, installation_id: int, services: ServicesDep, signed_in: UserDep
) -> Response:
    repositories = await _repositories(services, signed_in, installation_id)
    async with services.db.session() as session:
        rows = await session.execute(
            select(col(Project.github_repo_id), col(Project.id)).where(
                col(Project.github_repo_id).in_([r["id"] for r in repositories])
            )
        )
        connected = {row[0]: row[1] for row in rows}
    admin = {
        r["id"]
        for r in repositories
        if may(role_from_permissions(r.get("permissions") or {}), Action.CONNECT)
    }
    context = {
        "installation_id": installation_id,
        "repositories": repositories,
        "connected": connected,
        "admin": admin,
    }
    return render(request, "setup_repos.html", context)


async def _repository(
    services: Services, signed_in: SignedIn, installation_id: int, repo_id: int
) -> dict[str, Any]:
    found = next(
        (r for r in await _repositories(services, signed_in, installation_id) if r["id"] == repo_id), None
    )
    if found is None:
        raise HTTPException(404, "Repository not found in that installation")
    if not may(role_from_permissions(found.get("permissions") or {}), Action.CONNECT):
        raise HTTPException(403, f"Connecting {found['full_name']} needs the admin role on it on GitHub.")
    return found


@router.get("/setup/installations/{installation_id}/repos/{repo_id}")
async def configure(
    request: Request, installation_id: int, repo_id: int, services: ServicesDep, signed_in: UserDep
) -> Response:
    repository = await _repository(services, signed_in, installation_id, repo_id)
    form = ConfigForm(values=values_of({}))  # the models' own defaults
    return render(
        request, "setup_configure.html", {"repository": repository, "form": form, "secrets_text": ""}
    )


@router.post("/setup/installations/{installation_id}/repos/{repo_id}", dependencies=[Depends(require_csrf)])
async def activate(
    request: Request, installation_id: int, repo_id: int, services: ServicesDep, signed_in: UserDep
) -> Response:
    """ "Save & activate": the project exists and listens for webhooks from here on."""
    repository = await _repository(services, signed_in, installation_id, repo_id)
    posted = await request.form()
    form = parse(posted, settings=services.settings)
    secrets_text = str(posted.get("secrets", ""))
    secrets, secrets_error = parse_env(secrets_text, secret=True)
    if secrets_error:
        form.errors["secrets"] = secrets_error
    for secret_name, value in secrets.items():
        if problem := secret_value_problem(value):
            form.errors.setdefault("secrets", f"{secret_name}: {problem}")
    async with services.db.session() as session:
        # The check and the insert under one lock on the repository: a double-submitted form (or two
        # people at once) cannot connect a repository twice.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": repository_key(repo_id)})
        taken = (await session.exec(select(Project).where(Project.github_repo_id == repo_id))).first()
        if taken is not None:
            form.errors["repository"] = "This repository is already connected."
        if form.config is not None:
            problem = await image_problem(session, project_id=None, image=form.config.fly_config.image)
            if problem:
                form.errors["fly_image"] = problem
        if form.errors or form.config is None:
            # The secret values typed are not sent back into the page: they are asked for again.
            context = {"repository": repository, "form": form, "secrets_text": ""}
            return render(request, "setup_configure.html", context, status_code=422)
        project = await create_project(
            session,
            user_id=signed_in.user.id,
            repo_full_name=repository["full_name"],
            config=form.config,
            repo_id=repo_id,
            installation_id=installation_id,
        )
        for name, value in secrets.items():
            await put_secret(session, keyring=services.keyring, project_id=project.id, name=name, value=value)
    return RedirectResponse(f"/projects/{project.id}", status_code=303)
