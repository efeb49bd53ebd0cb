"""Who is signed in: the session cookie's id, looked up in web_sessions on every request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from models import User, WebSession
from models.sign_in import session_user
from web.deps import ServicesDep

SESSION_ID_KEY = "sid"


@dataclass
class SignedIn:
    user: User
    web_session: WebSession
    sid: str


class NotSignedIn(Exception):
    """Raised by `require_user`; answered with the sign-in page (or an HX-Redirect to it)."""


async def optional_user(request: Request, services: ServicesDep) -> SignedIn | None:
    sid = request.session.get(SESSION_ID_KEY)
    if not isinstance(sid, str) or not sid:
        return None
    async with services.db.session() as session:
        found = await session_user(session, sid=sid)
    if found is None:
        request.session.pop(SESSION_ID_KEY, None)
        return None
    signed_in = SignedIn(user=found[0], web_session=found[1], sid=sid)
    request.state.signed_in = signed_in
    return signed_in


async def require_user(signed_in: Annotated[SignedIn | None, Depends(optional_user)]) -> SignedIn:
    if signed_in is None:
        raise NotSignedIn()
    return signed_in


UserDep = Annotated[SignedIn, Depends(require_user)]


def sign_in_redirect(request: Request) -> Response:
    target = "/login"
    if request.method == "GET" and request.url.path != "/":
        target += "?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if request.headers.get("hx-request") == "true":
        # htmx would swap a redirect's page into a fragment; ask it to navigate instead.
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"
