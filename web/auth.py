"""Bearer tokens for /api: random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import ApiToken, User
from models.common import utcnow
from web.deps import ServicesDep

TOKEN_PREFIX = "pvd_"
bearer = HTTPBearer(auto_error=False)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, user_id: uuid.UUID, name: str, token: str | None = None
) -> str:
    token = token or new_token()
    session.add(ApiToken(user_id=user_id, name=name, token_sha256=token_digest(token)))
    await session.commit()
    return token


async def current_user(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "an API token is required: Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    digest = token_digest(credentials.credentials)
    async with services.db.session() as session:
        found = (
            await session.execute(
                select(User, ApiToken.id)
                .join(ApiToken, col(ApiToken.user_id) == col(User.id))
                .where(ApiToken.token_sha256 == digest)
            )
        ).first()
        if found is None:
            raise HTTPException(401, "unknown API token", {"WWW-Authenticate": "Bearer"})
        await session.execute(
            update(ApiToken).where(col(ApiToken.id) == found[1]).values(last_used_at=utcnow())
        )
        await session.commit()
    user: User = found[0]
    return user


CurrentUser = Annotated[User, Depends(current_user)]
