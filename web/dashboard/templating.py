"""Jinja2 (autoescape on, for every template) and the filters the pages share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from web.dashboard.csrf import csrf_token
from web.permissions import Action
from workflows.vocabulary import DeploymentStatus, Phase

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Pages load only our own scripts and styles (no inline script, no eval: htmx is configured without it
# in base.html), are never framed, and leak no path to other sites: a PR title that slipped past
# escaping still could not run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# A badge's colour, for a workflow phase or a deployment status (both are shown as badges).
STATUS_TONES: dict[str, str] = {
    Phase.ACTIVE: "green",
    Phase.BUILDING: "blue",
    Phase.DEPLOYING: "blue",
    DeploymentStatus.PENDING: "gray",
    Phase.QUEUED: "gray",
    Phase.AWAITING_APPROVAL: "amber",
    Phase.FORK_BLOCKED: "amber",
    Phase.FAILED: "red",
    Phase.DESTROYED: "muted",
    DeploymentStatus.SUPERSEDED: "muted",
    DeploymentStatus.REPLACED: "muted",
    DeploymentStatus.SKIPPED: "muted",
    Phase.CLOSED: "muted",
    Phase.IDLE: "muted",
}


def ago(moment: datetime | str | None, now: datetime | None = None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def exact(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def tone(status: str | None) -> str:
    return STATUS_TONES.get(status or "", "gray")


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name: PR titles, branches and log lines are user input
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def clock(moment: datetime) -> str:
    """A log line's time of day, in UTC like every exact time on the pages (Postgres hands times back
    in the connection's zone, which is the server's unless set)."""
    return moment.astimezone(UTC).strftime("%H:%M:%S")


environment.filters.update(ago=ago, exact=exact, tone=tone, clock=clock, short=lambda sha: (sha or "")[:7])
# Templates compare against the enums, never against strings of their own.
environment.globals.update(Phase=Phase, DeploymentStatus=DeploymentStatus, Action=Action)
templates = Jinja2Templates(env=environment)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    signed_in = getattr(request.state, "signed_in", None)
    services = request.app.state.services
    full = {
        "request": request,
        "csrf_token": csrf_token(request),
        "user": signed_in.user if signed_in else None,
        "github_mode": services.settings.github_sign_in,
        "github_url": services.settings.github_url,
        # Set by web.sandbox_status's middleware when PR code runs unsandboxed somewhere.
        "unsandboxed": getattr(request.state, "unsandboxed", None),
        # Set by web.pieces' middleware while Postgres, Temporal or the worker is down.
        "down": getattr(request.state, "down", None),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    # Full page or fragment depends on HX-Request, and every page on who is signed in.
    response.headers["Vary"] = "HX-Request, Cookie"
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(SECURITY_HEADERS)
    return response
