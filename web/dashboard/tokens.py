"""The signed-in person's API tokens: made here (shown once), listed, revoked. A token does at most
what its scope and its owner's role on each repository allow (web/auth.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from models.api_tokens import DEFAULT_DAYS, MAX_DAYS, SCOPES, create_token, revoke_token, tokens_of
from models.common import utcnow
from web.dashboard.csrf import require_csrf
from web.dashboard.signed_in import SignedIn, UserDep
from web.dashboard.templating import render
from web.deps import Services, ServicesDep

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request,
    services: Services,
    signed_in: SignedIn,
    *,
    new: str | None = None,
    notice: tuple[bool, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with services.db.session() as session:
        rows = await tokens_of(session, user_id=signed_in.user.id)
    context = {
        "tokens": rows,
        "now": utcnow(),
        "new": new,
        "notice": notice,
        "scopes": SCOPES,
        "default_days": DEFAULT_DAYS,
        "max_days": MAX_DAYS,
    }
    return render(request, "tokens.html", context, status_code=status_code)


@router.get("/tokens")
async def tokens_page(request: Request, services: ServicesDep, signed_in: UserDep) -> Response:
    return await _page(request, services, signed_in)


@router.post("/tokens", dependencies=[Depends(require_csrf)])
async def make_token(
    request: Request,
    services: ServicesDep,
    signed_in: UserDep,
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "read",
    days: Annotated[str, Form()] = str(DEFAULT_DAYS),
) -> Response:
    name = name.strip()
    problem = None
    if not 1 <= len(name) <= 100:
        problem = "name: 1 to 100 characters, so you can tell your tokens apart"
    elif not days.isdigit():
        problem = f"expires in: a number of days, 1 to {MAX_DAYS}"
    if problem is None:
        async with services.db.session() as session:
            try:
                token, _ = await create_token(
                    session, user_id=signed_in.user.id, name=name, scope=scope, days=int(days)
                )
            except ValueError as error:
                problem = str(error)
    if problem is not None:
        return await _page(request, services, signed_in, notice=(False, problem), status_code=422)
    # Shown in this one answer: only its digest is kept.
    return await _page(request, services, signed_in, new=token)


@router.post("/tokens/{token_id}/revoke", dependencies=[Depends(require_csrf)])
async def revoke(
    request: Request, token_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    async with services.db.session() as session:
        done = await revoke_token(session, user_id=signed_in.user.id, token_id=token_id)
    notice = (
        (True, "Token revoked: it is refused from now on.") if done else (False, "No such token of yours.")
    )
    return await _page(request, services, signed_in, notice=notice, status_code=200 if done else 404)
