"""Puts the dashboard on the FastAPI app: cookie sessions, static files, pages, HTML error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from config import Settings
from web.dashboard import (
    actions,
    deployments,
    domain_settings,
    github_setup,
    home,
    insights,
    log_stream,
    notifications,
    projects,
    settings_pages,
    signin,
    start_preview,
    tokens,
)
from web.dashboard.session_key import session_secret
from web.dashboard.signed_in import NotSignedIn, sign_in_redirect
from web.dashboard.templating import render
from web.deps import Services

STATIC = Path(__file__).resolve().parent.parent / "static"
SESSION_COOKIE = "previewd_session"


def session_cookie_name(settings: Settings) -> str:
    """Over https, `__Host-`: browsers then take the cookie only from this exact host, Secure, with
    Path=/ and no Domain, so a preview on a sibling subdomain cannot set or shadow it."""
    return f"__Host-{SESSION_COOKIE}" if settings.secure_cookies else SESSION_COOKIE


# JSON keeps answering the API and webhooks; people get pages.
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/docs", "/openapi.json")
# start_preview comes before actions: its POST …/pulls/{n}/deploy must not meet actions' …/{action}.
MODULES = (
    signin,
    home,
    projects,
    insights,
    deployments,
    log_stream,
    start_preview,
    actions,
    github_setup,
    settings_pages,
    tokens,
    notifications,
)


def _for_machines(request: Request) -> bool:
    if request.url.path.startswith(MACHINE_PREFIXES):
        return True
    htmx = request.headers.get("hx-request") == "true"
    return not htmx and "text/html" not in request.headers.get("accept", "")


def _error_page(request: Request, status: int, message: object) -> Response:
    if request.headers.get("hx-request") == "true":
        return render(request, "_notice.html", {"ok": False, "message": message}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def install(app: FastAPI, services: Services) -> None:
    settings = services.settings
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=session_cookie_name(settings),
        path="/",
        max_age=settings.previewd_session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in MODULES:
        app.include_router(module.router)
    app.include_router(settings_pages.changes)
    app.include_router(domain_settings.changes)
    app.include_router(notifications.changes)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return sign_in_redirect(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _for_machines(request):
            return await request_validation_exception_handler(request, exc)
        # A malformed id in the path names nothing: the same 404 as a missing one.
        if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return _error_page(request, 404, "Not found")
        return _error_page(request, 400, "That address has a bad parameter")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _for_machines(request):
            return await http_exception_handler(request, exc)
        return _error_page(request, exc.status_code, exc.detail)
