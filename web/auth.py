"""Bearer tokens for /api: the dependency that turns `Authorization: Bearer …` into its user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import User
from models.api_tokens import user_for_token
from web.deps import ServicesDep

bearer = HTTPBearer(auto_error=False)


async def current_user(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "an API token is required: Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    async with services.db.session() as session:
        user = await user_for_token(session, token=credentials.credentials)
    if user is None:
        raise HTTPException(401, "unknown API token", {"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]
