"""CSRF: one random token per browser session, sent back on every state-changing request.

htmx sends it as the `X-CSRF-Token` header (set once on <body> through `hx-headers`); plain forms as
the `csrf_token` field. The webhook route is not under the dashboard and checks its HMAC instead.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

SESSION_KEY = "csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


async def require_csrf(request: Request) -> None:
    """A dependency of every dashboard route that changes something: 403 without the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    given = request.headers.get(HEADER)
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        # Starlette caches the parsed form on the request, so the route reads it again for free.
        value = (await request.form()).get(FIELD)
        given = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and expected and given and hmac.compare_digest(expected, given)):
        raise HTTPException(
            403, "This form has expired or did not come from this site. Reload the page and try again."
        )
