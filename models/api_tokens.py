"""API tokens for /api: random, shown once, stored as SHA-256. Session first.

The CLI makes them (`token create`, `up`) and the web app checks them, so they live with the table
rather than under web/.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import utcnow
from models.users import ApiToken, User

TOKEN_PREFIX = "pvd_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, user_id: uuid.UUID, name: str, token: str | None = None
) -> str:
    """Stores a token's digest for `user_id`; returns the token (made here unless given)."""
    token = token or new_token()
    session.add(ApiToken(user_id=user_id, name=name, token_sha256=token_digest(token)))
    await session.commit()
    return token


async def ensure_token(session: AsyncSession, *, user_id: uuid.UUID, name: str, token: str) -> None:
    """Stores `token` unless it is stored already (a token kept in a file, offered again)."""
    known = (
        await session.execute(select(ApiToken.id).where(ApiToken.token_sha256 == token_digest(token)))
    ).first()
    if known is None:
        await create_token(session, user_id=user_id, name=name, token=token)


async def user_for_token(session: AsyncSession, *, token: str) -> User | None:
    """The token's owner, noting the token's use; None for a token nobody holds."""
    found = (
        await session.execute(
            select(User, ApiToken.id)
            .join(ApiToken, col(ApiToken.user_id) == col(User.id))
            .where(ApiToken.token_sha256 == token_digest(token))
        )
    ).first()
    if found is None:
        return None
    await session.execute(update(ApiToken).where(col(ApiToken.id) == found[1]).values(last_used_at=utcnow()))
    await session.commit()
    user: User = found[0]
    return user
