"""Signing in and out: one-time links (local mode) or GitHub OAuth (GitHub mode)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from models.sign_in import close_session, consume_login_link, open_session, upsert_github_user
from web.dashboard.access import seal_github_token
from web.dashboard.csrf import require_csrf
from web.dashboard.github_user_api import GitHubUserApi, GitHubUserError
from web.dashboard.oauth import github_oauth
from web.dashboard.signed_in import SESSION_ID_KEY, SignedIn, optional_user, safe_next
from web.dashboard.templating import render
from web.deps import Services, ServicesDep
from web.sandbox_status import sign_in_refusal

log = logging.getLogger("previewd.web.signin")
router = APIRouter(include_in_schema=False)
NEXT_KEY = "next"
LINK_REFUSED = "That sign-in link is used, expired or unknown. Run `previewd login-link` for a new one."


async def _start_session(request: Request, services: Services, sid: str) -> None:
    # A fresh CSRF token too: nothing from before sign-in carries over (session fixation). A session
    # this browser had before is closed, not left valid behind the new one.
    previous = request.session.get(SESSION_ID_KEY)
    if isinstance(previous, str) and previous != sid:
        async with services.db.session() as session:
            await close_session(session, sid=previous)
    request.session.clear()
    request.session[SESSION_ID_KEY] = sid


@router.get("/login")
async def login_page(
    request: Request,
    services: ServicesDep,
    signed_in: Annotated[SignedIn | None, Depends(optional_user)],
    next: str | None = None,
    error: str | None = None,
) -> Response:
    if signed_in is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    if next:
        request.session[NEXT_KEY] = safe_next(next)
    return render(request, "login.html", {"error": error})


@router.get("/auth/link")
async def link_page(request: Request, token: str = "") -> Response:
    # Not consumed here: mail scanners and link previews fetch GET links. A person presses the button.
    return render(request, "login_link.html", {"token": token})


@router.post("/auth/link", dependencies=[Depends(require_csrf)])
async def link_sign_in(
    request: Request, services: ServicesDep, token: Annotated[str, Form()] = ""
) -> Response:
    if services.settings.github_sign_in:
        # With GitHub sign-in configured, a link printed before (local mode) no longer opens a session.
        return render(request, "login.html", {"error": LINK_REFUSED}, status_code=400)
    async with services.db.session() as session:
        user_id = await consume_login_link(session, token=token) if token else None
        if user_id is None:
            return render(
                request,
                "login.html",
                {"error": LINK_REFUSED},
                status_code=400,
            )
        sid = await open_session(session, user_id=user_id, hours=services.settings.previewd_session_hours)
    target = safe_next(request.session.get(NEXT_KEY))
    await _start_session(request, services, sid)
    return RedirectResponse(target, status_code=303)


@router.get("/auth/github")
async def github_start(request: Request, services: ServicesDep) -> Response:
    client = github_oauth(services.settings)
    if client is None:
        return RedirectResponse("/login", status_code=303)
    redirect_uri = f"{services.settings.previewd_base_url}/auth/github/callback"
    response: Response = await client.authorize_redirect(request, redirect_uri)
    return response


@router.get("/auth/github/callback")
async def github_callback(request: Request, services: ServicesDep) -> Response:
    client = github_oauth(services.settings)
    if client is None:
        return RedirectResponse("/login", status_code=303)
    if request.query_params.get("error"):
        # The user pressed "Cancel" on GitHub (error=access_denied).
        return _login_error(request, "GitHub sign-in was cancelled.")
    try:
        token = await client.authorize_access_token(request)
    except Exception as error:  # authlib: MismatchingStateError, OAuthError; httpx errors
        # OAuthError's description is GitHub's own words (never the code, secret or a token).
        log.warning("GitHub sign-in failed: %s %s", type(error).__name__, getattr(error, "description", ""))
        return _login_error(
            request, "GitHub sign-in did not complete (the link expired or was reused). Try again."
        )
    access_token = str(token.get("access_token", ""))
    try:
        async with GitHubUserApi(services.settings.github_api_url, access_token) as api:
            github_user = await api.user()
    except GitHubUserError as error:
        log.warning("GET /user failed: %s %s", error.status, error.message)
        return _login_error(request, "GitHub did not tell us who you are. Try again in a minute.")
    async with services.db.session() as session:
        refusal = None
        if await services.sandbox.notice(fresh=True):
            refusal = await sign_in_refusal(session, github_id=github_user.id)
        if refusal is not None:
            log.warning("GitHub sign-in of %s refused: PR code runs unsandboxed", github_user.login)
            return _login_error(request, refusal)
        user = await upsert_github_user(
            session, github_id=github_user.id, login=github_user.login, name=github_user.name
        )
        sid = await open_session(
            session,
            user_id=user.id,
            hours=services.settings.previewd_session_hours,
            github_token=seal_github_token(services, user.id, access_token),
        )
    target = safe_next(request.session.get(NEXT_KEY))
    await _start_session(request, services, sid)
    return RedirectResponse(target, status_code=303)


def _login_error(request: Request, message: str) -> Response:
    return render(request, "login.html", {"error": message}, status_code=400)


@router.post("/logout", dependencies=[Depends(require_csrf)])
async def logout(
    request: Request, services: ServicesDep, signed_in: Annotated[SignedIn | None, Depends(optional_user)]
) -> Response:
    if signed_in is not None:
        async with services.db.session() as session:
            await close_session(session, sid=signed_in.sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
